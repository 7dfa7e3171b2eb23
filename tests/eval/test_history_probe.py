"""genrec.eval.probe: per-level NLL with true vs shuffled histories."""

import json

import pandas as pd
import pytest
import torch

from genrec.eval import probe


class _FakeLM:
    """Logits from token counts: ``copy`` puts mass on tokens seen earlier in the input
    (a model that reads the history); otherwise every position gets the same logits
    (a history-blind model)."""

    def __init__(self, vocab: int, copy: bool):
        self.vocab, self.copy, self.device = vocab, copy, torch.device("cpu")

    def __call__(self, input_ids):
        ids = input_ids[0]
        logits = torch.zeros(1, len(ids), self.vocab)
        if self.copy:
            seen = torch.zeros(self.vocab)
            for j, t in enumerate(ids.tolist()):
                seen[t] += 1.0
                logits[0, j] = 3.0 * seen
        return type("Out", (), {"logits": logits})()


@pytest.fixture()
def files(tiny, tmp_path):
    _, tokenizer, sids = tiny
    sids.to_parquet(tmp_path / "sids.parquet", index=False)
    # the target is always the last history item: only a history reader can exploit it
    rows = [{"user_id": u, "history": [(u + 5) % 12, u % 12], "target": u % 12} for u in range(12)]
    pd.DataFrame(rows).to_parquet(tmp_path / "valid.parquet", index=False)
    return tmp_path, tokenizer


def _run(monkeypatch, files, copy, **kw):
    d, tok = files
    monkeypatch.setattr(
        probe, "load_model_and_tokenizer", lambda *a, **k: (_FakeLM(len(tok), copy), tok)
    )
    return probe.history_probe("m", d / "sids.parquet", d / "valid.parquet", **kw)


def test_a_history_blind_model_shows_no_gap(monkeypatch, files):
    out = _run(monkeypatch, files, copy=False)
    assert out["n"] == 12 and [r["level"] for r in out["levels"]][:3] == [1, 2, 3]
    assert all(r["gap"] == 0 for r in out["levels"])


def test_a_model_that_reads_the_history_shows_a_gap_at_every_level(monkeypatch, files):
    out = _run(monkeypatch, files, copy=True)
    assert all(r["gap"] > 0.5 for r in out["levels"][:3])
    assert all(r["nll_true"] < r["nll_shuffled"] for r in out["levels"][:3])


def test_cli_prints_the_table_and_writes_json(monkeypatch, files, capsys):
    d, tok = files
    monkeypatch.setattr(
        probe, "load_model_and_tokenizer", lambda *a, **k: (_FakeLM(len(tok), True), tok)
    )
    args = ["--model", "m", "--sids", str(d / "sids.parquet")]
    args += ["--samples", str(d / "valid.parquet"), "--n", "6", "--json-out", str(d / "p.json")]
    probe.main(args)
    assert "6 samples of" in capsys.readouterr().out
    assert json.loads((d / "p.json").read_text())["n"] == 6
    with pytest.raises(ValueError, match="n must be >= 2"):
        probe.history_probe("m", d / "sids.parquet", d / "valid.parquet", n=1)
