"""Data stage: raw Amazon reviews (2014/2018/2023 layouts) -> cleaned items,
k-core filtered interactions, sliding-window samples and a train/valid/test split.

Modules: :mod:`readers` (streamed parsing, format detection), :mod:`cleaning`
(text), :mod:`filters` (time window, iterative k-core), :mod:`samples`
(sliding windows, splits), :mod:`synthetic` (demo data), :mod:`pipeline`
(the ``prepare`` entry point).
"""


class DataError(ValueError):
    """Bad input data; the message names the file (and line or key) at fault."""
