"""Data stage: raw Amazon reviews (2014/2018/2023 layouts) -> cleaned items,
k-core filtered interactions, sliding-window samples and a train/valid/test split.

Modules: :mod:`readers` (streamed parsing, format detection), :mod:`cleaning`
(text), :mod:`filters` (time window, iterative k-core), :mod:`samples`
(sliding windows, splits), :mod:`synthetic` (demo data), :mod:`pipeline`
(the ``prepare`` entry point, in-memory engine), :mod:`outofcore` (the DuckDB
engine, identical outputs in bounded memory), :mod:`resources` (job memory and
runtime from the input size), :mod:`scale` (streamed benchmark data at scale).
"""


class DataError(ValueError):
    """Bad input data; the message names the file (and line or key) at fault."""
