"""Helpers shared by the SASRec tests (a unique module name: tests/baselines is on
sys.path for them; importing from ``conftest`` would depend on which conftest pytest
loaded first)."""

from genrec.baselines.params import SasrecParams

# A small, fast SASRec: the resolved params the rule would pass (schema-validated).
TINY_SASREC = SasrecParams.defaults(
    max_history=8,
    hidden_size=16,
    num_blocks=1,
    num_heads=2,
    dropout=0.1,
    max_len=8,
    lr=0.005,
    weight_decay=0.0,
    batch_size=64,
    max_epochs=3,
    patience=2,
    eval_k=10,
    seed=5,
    device="cpu",
)
