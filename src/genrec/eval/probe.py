"""History probe: does a generative model read the history at all?

    python -m genrec.eval.probe --model results/demo/sft/rqvae/model \\
        --sids results/demo/sid/rqvae/sids.parquet \\
        --samples results/demo/data/valid.parquet [--n 300] [--json-out probe.json]

For ``n`` samples of a split, the negative log-likelihood (nats) of every SID
level of the target, with the SFT prompt (:func:`genrec.prompts.sid_next`) built
once from the sample's own history and once from the history of another sample
(a fixed random permutation of the same samples). Per level ``l``

    nll_true(l)     = mean_i  -log p(t_i,l | prompt(h_i), t_i,<l)
    nll_shuffled(l) = mean_i  -log p(t_i,l | prompt(h_pi(i)), t_i,<l)
    gap(l)          = nll_shuffled(l) - nll_true(l)

A model that ignores the history has ``gap = 0`` at every level; a model that
learned category-level transitions but not item-to-item ones has a gap at the
first level only. Use it on the valid split (never tune on test).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from genrec.eval.generative import build_prompts, read_samples, read_sids
from genrec.io import write_json
from genrec.lm import encode_prompt, load_model_and_tokenizer, read_prompt_limit


def _level_nll(model, prompt_ids: list[int], target_ids: list[int]) -> list[float]:
    import torch

    ids = torch.tensor([prompt_ids + target_ids], device=model.device)
    with torch.no_grad():
        logp = model(input_ids=ids).logits[0].float().log_softmax(-1)
    start = len(prompt_ids) - 1  # logits at position j predict token j + 1
    return [-float(logp[start + j, t]) for j, t in enumerate(target_ids)]


def history_probe(
    model_dir: str | Path,
    sids: str | Path,
    samples: str | Path,
    n: int = 300,
    seed: int = 0,
    device: str = "cpu",
) -> dict:
    """Per-level NLL of the targets with true vs shuffled histories (module docstring)."""
    df = read_samples(samples)
    table = read_sids(sids)
    if n < 2:
        raise ValueError(f"n must be >= 2 (a shuffle needs two samples), got {n}")
    df = df.head(n).reset_index(drop=True)
    if len(df) < 2:
        raise ValueError(f"{samples}: need at least 2 samples, found {len(df)}")
    sid_of = dict(zip(table["item_id"].astype(int), table["sid"], strict=True))
    tokens_of = dict(zip(table["item_id"].astype(int), table["tokens"], strict=True))
    perm = np.random.default_rng(seed).permutation(len(df))
    shuffled = df.assign(history=df["history"].to_numpy()[perm])
    true_prompts = build_prompts(df, sid_of, source=str(samples))
    other_prompts = build_prompts(shuffled, sid_of, source=str(samples))
    model, tokenizer = load_model_and_tokenizer(model_dir, device=device, dtype="float32")
    limit = read_prompt_limit(model_dir)
    pairs: dict[int, list[tuple[float, float]]] = {}  # level -> (true, shuffled) NLLs
    for i, target in enumerate(tqdm(df["target"].astype(int), desc="probe", unit="sample")):
        if target not in tokens_of:
            raise ValueError(f"{samples}: row {i}: target item {target} has no SID")
        target_ids = tokenizer.convert_tokens_to_ids(list(tokens_of[target]))
        a = _level_nll(model, encode_prompt(tokenizer, true_prompts[i], limit), target_ids)
        b = _level_nll(model, encode_prompt(tokenizer, other_prompts[i], limit), target_ids)
        for level, pair in enumerate(zip(a, b, strict=True), start=1):
            pairs.setdefault(level, []).append(pair)
    levels = []
    for level in sorted(pairs):
        t, o = np.mean(pairs[level], axis=0)
        levels.append(
            {
                "level": level,
                "samples": len(pairs[level]),
                "nll_true": round(float(t), 4),
                "nll_shuffled": round(float(o), 4),
                "gap": round(float(o - t), 4),
            }
        )
    return {"model": str(model_dir), "samples": str(samples), "n": len(df), "levels": levels}


def format_probe(result: dict) -> str:
    rows = [f"{'level':>5} {'true':>8} {'shuffled':>9} {'gap':>7}"]
    for r in result["levels"]:
        rows.append(
            f"{r['level']:>5} {r['nll_true']:>8.3f} {r['nll_shuffled']:>9.3f} {r['gap']:>7.3f}"
        )
    return f"{result['n']} samples of {result['samples']} (NLL in nats)\n" + "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="save_pretrained directory (SFT or RL)")
    ap.add_argument("--sids", required=True, help="results/<dataset>/sid/<method>/sids.parquet")
    ap.add_argument("--samples", required=True, help="a split, e.g. .../data/valid.parquet")
    ap.add_argument("--n", type=int, default=300, help="first N samples of the split")
    ap.add_argument("--seed", type=int, default=0, help="seed of the history shuffle")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args(argv)
    result = history_probe(args.model, args.sids, args.samples, args.n, args.seed, args.device)
    print(format_probe(result))
    if args.json_out:
        write_json(result, args.json_out)


if __name__ == "__main__":
    main()
