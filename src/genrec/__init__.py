"""genrec: generative recommendation with Semantic IDs, one subpackage per stage."""

__version__ = "0.1.0"
