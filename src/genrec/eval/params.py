"""Evaluation parameters: one frozen object built once from the validated config.

Torch-free (imported when Snakemake builds the DAG). ``EvalParams.from_config``
is what the rules pass to :func:`genrec.eval.generative.evaluate`; the library
keeps no defaults of its own (they live in ``config/schema.yaml``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from genrec.params import Params
from genrec.schema import schema_defaults

DECODERS = ("prefill", "generate")


@dataclass(frozen=True)
class EvalParams(Params):
    """What one evaluation job needs.

    ``ks``: cut-offs of HR@K / NDCG@K (sorted, distinct); ``num_beams``: beams of
    the constrained search (``eval.num_beams``, null = max K); ``batch_size``:
    prompts per decode call; ``length_penalty``; ``decoder``: ``prefill`` or
    ``generate``; ``dtype``: inference weights (``lm.dtype``); ``max_samples``:
    evenly spaced subset of the split (``eval.valid_samples`` on the valid split,
    None = all).
    """

    ks: tuple[int, ...]
    num_beams: int
    batch_size: int
    length_penalty: float
    decoder: str
    dtype: str
    max_samples: int | None = None

    def __post_init__(self):
        ks = tuple(sorted({int(k) for k in self.ks}))
        if not ks or ks[0] < 1:
            raise ValueError(f"eval.ks must be positive integers, got {list(self.ks)}")
        object.__setattr__(self, "ks", ks)
        if self.num_beams < ks[-1]:
            raise ValueError(
                f"eval.num_beams ({self.num_beams}) must be >= the largest K in eval.ks ({ks[-1]})"
            )
        if self.batch_size < 1:
            raise ValueError(f"eval.batch_size must be >= 1, got {self.batch_size}")
        if self.decoder not in DECODERS:
            raise ValueError(f"eval.decoder must be one of {DECODERS}, got {self.decoder!r}")

    @classmethod
    def from_config(cls, config: Mapping, split: str = "test") -> EvalParams:
        """From a validated config: the ``eval`` section, ``lm.dtype`` and, for the
        valid split, ``eval.valid_samples``."""
        ev = config["eval"]
        ks = [int(k) for k in ev["ks"]]
        return cls(
            ks=tuple(ks),
            num_beams=max(ks) if ev["num_beams"] is None else int(ev["num_beams"]),
            batch_size=int(ev["batch_size"]),
            length_penalty=float(ev["length_penalty"]),
            decoder=ev["decoder"],
            dtype=config["lm"]["dtype"],
            max_samples=ev["valid_samples"] if split == "valid" else None,
        )

    @classmethod
    def defaults(cls, split: str = "test", dtype: str | None = None, **overrides) -> EvalParams:  # type: ignore[override]
        """The schema's ``eval`` defaults with ``overrides`` (and ``lm.dtype``)."""
        lm = schema_defaults("lm", **({} if dtype is None else {"dtype": dtype}))
        return cls.from_config({"eval": schema_defaults("eval", **overrides), "lm": lm}, split)

    def check_items(self, n_items: int) -> None:
        """The beam count must not exceed the items that have a SID."""
        if self.num_beams > n_items:
            raise ValueError(
                f"eval.num_beams ({self.num_beams}) exceeds the number of items with a SID "
                f"({n_items}); lower eval.num_beams and the largest K in eval.ks"
            )
