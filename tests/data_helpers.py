"""What the data stage writes (shared by the data and workflow tests; a helper module,
importable as ``data_helpers``: tests/ is on sys.path through tests/conftest.py)."""

# the files of results/<dataset>/data/, the data stage's outputs
DATA_FILES = (
    "train.parquet",
    "valid.parquet",
    "test.parquet",
    "items.parquet",
    "id_maps.json",
    "stats.json",
)
