import os
from pathlib import Path

import pytest

# Nothing in the test suite may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="module")
def tiny():
    """``(model, tokenizer, sids)`` with 40 items, some with a 4-level SID (decode and eval tests)."""
    import torch
    from lm_helpers import make_model, make_sids, make_tokenizer

    torch.set_num_threads(1)
    sids = make_sids(40, codes=3, levels=3, seed=1)
    tokenizer = make_tokenizer(sids)
    model = make_model(tokenizer)
    return model, tokenizer, sids
