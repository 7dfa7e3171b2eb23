import json

import numpy as np
import pandas as pd
import pytest

from genrec.decode import SidTrie
from genrec.eval import generative as gen
from genrec.eval.metrics import ranking_metrics
from genrec.eval.params import EvalParams
from genrec.lm import encode_prompt
from genrec.params import decode, encode
from genrec.prompts import sid_next

PARAMS = EvalParams(
    ks=(1, 3, 5), num_beams=6, batch_size=3, length_penalty=0.0, decoder="prefill", dtype="float32"
)


@pytest.fixture(scope="module")
def workdir(tiny, tmp_path_factory):
    model, tokenizer, sids = tiny
    d = tmp_path_factory.mktemp("eval")
    model.save_pretrained(d / "model")
    tokenizer.save_pretrained(d / "model")
    sids.to_parquet(d / "sids.parquet", index=False)
    rng = np.random.default_rng(0)
    rows = []
    for u in range(7):
        hist = rng.choice(len(sids), size=int(rng.integers(1, 6)), replace=False).tolist()
        rows.append(
            {
                "user_id": 100 + u,
                "history": hist,
                "target": int(rng.integers(len(sids))),
                "history_ts": list(range(len(hist))),
                "target_ts": 99,
            }
        )
    pd.DataFrame(rows).to_parquet(d / "test.parquet", index=False)
    return d


def _evaluate(d, name, **kw):
    return gen.evaluate(
        d / "model",
        d / "sids.parquet",
        d / "test.parquet",
        d / name / "predictions.parquet",
        d / name / "metrics.json",
        PARAMS,
        stage="sft",
        sid_method="rqkmeans",
        **kw,
    )


def test_evaluate_end_to_end_writes_consistent_predictions_and_metrics(workdir, tiny):
    _, _, sids = tiny
    metrics = _evaluate(workdir, "run1")
    preds = pd.read_parquet(workdir / "run1" / "predictions.parquet")
    on_disk = json.loads((workdir / "run1" / "metrics.json").read_text())
    assert on_disk == metrics
    assert metrics["n"] == 7 and metrics["invalid"] == 0
    assert metrics["peak_gpu_memory_mb"] is None  # CPU run: no GPU peak to report
    top1 = [p[0] for p in pd.read_parquet(workdir / "run1" / "predictions.parquet")["predictions"]]
    assert metrics["top1_distinct"] == len(set(top1))
    assert metrics["top1_share"] == pytest.approx(max(map(top1.count, top1)) / 7)
    assert metrics["model"] == "sft" and metrics["sid_method"] == "rqkmeans"
    assert list(preds.columns) == ["user_id", "target", "predictions", "predicted_sids", "rank"]
    assert preds["user_id"].tolist() == list(range(100, 107))  # sample order kept
    for p, t, r in zip(preds["predictions"], preds["target"], preds["rank"], strict=True):
        assert (r == -1 and t not in list(p)) or list(p).index(t) == r  # per-sample rank
    sid_of = dict(zip(sids["item_id"], sids["sid"], strict=True))
    for p, s in zip(preds["predictions"], preds["predicted_sids"], strict=True):
        assert len(p) == 5 and len(set(p)) == 5  # top max-K of 6 distinct beams
        assert list(s) == [sid_of[i] for i in p]
    expect = ranking_metrics(preds["predictions"].tolist(), preds["target"].tolist(), [1, 3, 5])
    for k, v in expect.items():
        assert metrics[k] == pytest.approx(v)
    # deterministic: a second run gives identical files
    _evaluate(workdir, "run2")
    again = pd.read_parquet(workdir / "run2" / "predictions.parquet")
    pd.testing.assert_frame_equal(preds, again)


def test_rank_shards_merge_to_the_single_process_result(workdir):
    single = gen.run_shard(
        workdir / "model", workdir / "sids.parquet", workdir / "test.parquet", PARAMS
    )
    shards = [
        gen.run_shard(
            workdir / "model", workdir / "sids.parquet", workdir / "test.parquet", PARAMS, r, 3
        )
        for r in (2, 0, 1)
    ]
    assert [len(s) for s in shards] == [2, 3, 2]
    merged = gen.merge_shards(shards, 7)
    pd.testing.assert_frame_equal(merged, single)
    with pytest.raises(RuntimeError, match="expected 7"):
        gen.merge_shards(shards[:2], 7)


def test_rank_entry_point_runs_in_process(workdir):
    """What `accelerate launch -m genrec.distributed FILE` runs per rank (the parameters
    arrive as the EvalParams object), in this process: the single-process result."""
    from genrec.distributed import main as rank_main

    out = workdir / "rank"
    kwargs = {
        "model_dir": str(workdir / "model"),
        "sids": str(workdir / "sids.parquet"),
        "samples": str(workdir / "test.parquet"),
        "out_predictions": str(out / "predictions.parquet"),
        "out_metrics": str(out / "metrics.json"),
        "params": encode(PARAMS),  # as genrec.distributed.launch writes it
        "stage": "sft",
        "sid_method": "rqkmeans",
        "split": "test",
        "shard_dir": str(out / "shards"),
    }
    spec = {"entry": "genrec.eval.generative:evaluate_rank", "kwargs": kwargs}
    (workdir / "rank_args.json").write_text(json.dumps(spec))
    rank_main([str(workdir / "rank_args.json")])
    single = _evaluate(workdir, "rank_single")
    assert json.loads((out / "metrics.json").read_text()) == single
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "predictions.parquet"),
        pd.read_parquet(workdir / "rank_single" / "predictions.parquet"),
    )


def test_predictions_follow_the_model_and_come_back_in_prompt_order(tiny):
    """A model pushed towards one item's SID ranks that item first for every prompt."""
    model, tokenizer, sids = tiny
    trie = SidTrie.from_sids_table(sids, tokenizer)
    favourite = 17
    boost = [*trie.item_token_ids(favourite), tokenizer.eos_token_id]

    def hook(module, inputs, output):
        out = output.clone()
        out[..., boost] += 30.0
        return out

    prompts = [encode_prompt(tokenizer, sid_next(list(sids["sid"][:k]))) for k in (1, 6, 2, 4, 3)]
    plain, _ = gen.predict(model, tokenizer, trie, prompts, 5, 5, batch_size=2)
    one_by_one = np.stack(
        [gen.predict(model, tokenizer, trie, [p], 5, 5, 1)[0][0] for p in prompts]
    )
    np.testing.assert_array_equal(plain, one_by_one)  # length bucketing restores the order
    handle = model.lm_head.register_forward_hook(hook)
    try:
        items, texts = gen.predict(model, tokenizer, trie, prompts, 5, 3, batch_size=2)
    finally:
        handle.remove()
    assert items.shape == (5, 3) and (items[:, 0] == favourite).all()
    assert texts[0][0] == sids["sid"][favourite]  # decoded from tokens when no sid table is given


def test_bad_inputs_give_clear_errors(workdir, tmp_path):
    with pytest.raises(ValueError, match="num_beams .3. must be >= the largest K"):
        PARAMS.replace(ks=(1, 5), num_beams=3)
    with pytest.raises(ValueError, match="exceeds the number of items"):
        PARAMS.replace(ks=(1, 50), num_beams=50).check_items(40)
    with pytest.raises(ValueError, match="eval.decoder must be one of"):
        PARAMS.replace(decoder="greedy")
    cfg = {"eval": {"ks": [10, 1, 5, 5], "num_beams": None, "batch_size": 2,
                    "length_penalty": 0.0, "decoder": "prefill", "valid_samples": 9},
           "lm": {"dtype": "float32"}}  # fmt: skip
    test, valid = EvalParams.from_config(cfg), EvalParams.from_config(cfg, "valid")
    assert test.ks == (1, 5, 10) and test.num_beams == 10 and test.max_samples is None
    assert valid.max_samples == 9
    assert test.to_dict()["ks"] == [1, 5, 10]  # JSON-able
    assert EvalParams.from_section(test.to_dict()) == test
    assert decode(json.loads(json.dumps(encode(test)))) == test  # what a multi-GPU rank gets
    bad = pd.read_parquet(workdir / "test.parquet").drop(columns=["target"])
    bad.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match=r"bad.parquet: missing column\(s\) \['target'\]"):
        gen.read_samples(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="row 0: history item 5 has no SID"):
        gen.build_prompts(pd.DataFrame({"history": [[5]]}), {1: "<a_1>"}, "x.parquet")


def test_prompt_is_the_shared_sft_prompt():
    """Evaluation's prompt and SFT's task-1 training prompt are both this text, written out
    by hand from the template: the history's SIDs oldest first, joined by ", ", under the
    instruction, ending with the response header."""
    from genrec.sft.dataset import sample_rows

    sid_of = {3: "<a_1><b_0><c_2><d_1>", 7: "<a_0><b_2><c_1>", 9: "<a_2><b_2><c_2>"}
    samples = pd.DataFrame({"user_id": [1, 2], "history": [[7, 3], [9]], "target": [9, 3]})
    expected = [
        "### Instruction:\n"
        "Given the items the user interacted with in order, predict the next item.\n"
        "### Input:\n"
        "<a_0><b_2><c_1>, <a_1><b_0><c_2><d_1>\n"
        "### Response:\n",
        "### Instruction:\n"
        "Given the items the user interacted with in order, predict the next item.\n"
        "### Input:\n"
        "<a_2><b_2><c_2>\n"
        "### Response:\n",
    ]
    assert gen.build_prompts(samples, sid_of) == expected
    title_of = dict.fromkeys(sid_of, "a title")
    sft = sample_rows(samples, sid_of, title_of, "sid_next", None, np.random.default_rng(0))
    assert [r["prompt"] for r in sft] == expected
    assert [r["response"] for r in sft] == [sid_of[9], sid_of[3]]


def test_a_history_blind_model_is_reported(tmp_path, caplog):
    n = gen.COLLAPSE_MIN_SAMPLES
    df = pd.DataFrame(
        {
            "user_id": range(n),
            "target": [i % 5 for i in range(n)],
            "predictions": [[0, 1, 2]] * n,  # same list whatever the history
            "predicted_sids": [["<a_0>", "<a_1>", "<a_2>"]] * n,
        }
    )
    args = (tmp_path / "p.parquet", tmp_path / "m.json", "sft", "rqvae", "test", 3)
    with caplog.at_level("WARNING", logger="genrec.eval.generative"):
        m = gen.finalize(df, [1, 3], *args)
    assert m["top1_share"] == 1.0 and m["HR@3"] == pytest.approx(0.6)
    assert "barely reads the history" in caplog.text
    caplog.clear()
    df["predictions"] = [[i % 5, 9, 8] for i in range(n)]  # history-dependent
    with caplog.at_level("WARNING", logger="genrec.eval.generative"):
        gen.finalize(df, [1, 3], *args)
    assert "barely reads the history" not in caplog.text
