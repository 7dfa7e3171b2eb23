"""Constrained beam-search speed: our trie processor vs an upstream-style reference vs no constraint.

Runs the same random-weight model, prompts and beam count through

  (a) ``genrec.decode`` with the prefill-once decoder (``decoder="prefill"``, the
      default: each prompt through the model once, KV cache copied to the beams),
  (a') ``genrec.decode`` through ``model.generate`` (``decoder="generate"``: tensor
      trie + ``TrieConstrainedLogitsProcessor``; every beam prefills the prompt),
  (b) REFERENCE ONLY: a re-implementation of upstream MiniOneRec's approach
      (``LogitProcessor.py`` + ``evaluate.py``: a dict from the generated-prefix
      token tuple to the allowed ids, and a per-row Python loop with ``.tolist()``
      in every step), kept in this file for comparison and nowhere else,
  (c) unconstrained beam search for the same number of new tokens (the floor),

checks that (a), (a') and (b) return the same SIDs, and prints prompts/s, the
ratios and (on CUDA) the peak memory of each. Random weights are fine: speed does not depend on them.

    python benchmarks/decode.py --model-shape tiny --device cpu
    python benchmarks/decode.py --model-shape qwen0.5b --device cuda
"""

from __future__ import annotations

import argparse
import json
import time
from types import SimpleNamespace

import numpy as np
import torch
from transformers import LogitsProcessor, LogitsProcessorList, Qwen2Config

from genrec.decode import SidTrie, constrained_generate, generation_config, left_pad

SHAPES = {
    # Qwen2.5-0.5B: 24 layers, d=896, 14 heads / 2 KV heads, tied embeddings
    "qwen0.5b": dict(
        hidden_size=896,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        intermediate_size=4864,
        base_vocab=151_665,
        tie_word_embeddings=True,
    ),
    # the demo's scratch-model scale: cheap forward passes, so decoding overhead shows
    "tiny": dict(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        base_vocab=1_000,
        tie_word_embeddings=True,
    ),
}


class UpstreamStyleProcessor(LogitsProcessor):
    """REFERENCE (mimics MiniOneRec's ConstrainedLogitsProcessor): Python loop over rows.

    ``allowed`` maps the tuple of tokens generated so far to the allowed next ids.
    """

    def __init__(self, allowed: dict[tuple[int, ...], list[int]], num_beams: int, prompt_len: int):
        self.allowed = allowed
        self.num_beams = num_beams
        self.prompt_len = prompt_len

    def __call__(self, input_ids, scores):
        scores = torch.nn.functional.log_softmax(scores, dim=-1)
        mask = torch.full_like(scores, -1_000_000.0)
        rows = input_ids.view(-1, self.num_beams, input_ids.shape[-1])
        for batch_id, beam_sent in enumerate(rows):
            for beam_id, sent in enumerate(beam_sent):
                key = tuple(sent[self.prompt_len :].tolist())
                ids = self.allowed.get(key, [])
                if len(ids) == 0:
                    continue
                mask[batch_id * self.num_beams + beam_id, ids] = 0
        return scores + mask


def upstream_allowed_dict(seqs: list[list[int]], eos: int) -> dict[tuple[int, ...], list[int]]:
    table: dict[tuple[int, ...], set[int]] = {}
    for s in seqs:
        full = [*s, eos]
        for i in range(len(full)):
            table.setdefault(tuple(full[:i]), set()).add(full[i])
    return {k: sorted(v) for k, v in table.items()}


def random_sids(n_items, levels, codes, first_sid_id, seed):
    rng = np.random.default_rng(seed)
    seen, seqs = set(), []
    while len(seqs) < n_items:
        c = tuple(int(x) for x in rng.integers(0, codes, size=levels))
        if c not in seen:
            seen.add(c)
            seqs.append([first_sid_id + lv * codes + x for lv, x in enumerate(c)])
    return seqs


def build_model(shape, n_sid_tokens, device, dtype):
    from transformers import Qwen2ForCausalLM

    s = dict(SHAPES[shape])
    base = s.pop("base_vocab")
    cfg = Qwen2Config(vocab_size=base + n_sid_tokens, max_position_embeddings=4096, **s)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(cfg)
    return model.to(dtype).eval(), base


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device, repeats):
    """Best-of-``repeats`` seconds, the last output and the peak CUDA memory (MiB) of ``fn``."""
    fn()  # warm-up (kernels, allocator)
    sync(device)
    cuda = str(device).startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        sync(device)
        best = min(best, time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None
    return best, out, peak


def bench_batch(model, tok, trie, allowed, prompts, beams, device, repeats):
    """Best-of-``repeats`` seconds of (a), (b), (c) on one batch, and the items of (a), (b)."""
    bs = len(prompts)
    ids, mask = left_pad(prompts, tok.pad_token_id, device)
    plen = ids.shape[1]

    def ours():
        return constrained_generate(model, tok, prompts, trie, beams, beams).item_ids

    def ours_generate():
        return constrained_generate(
            model, tok, prompts, trie, beams, beams, decoder="generate"
        ).item_ids

    def reference():
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            # the generation settings of (a'): only the logits processor differs
            generation_config=generation_config(trie, beams, beams, tok.pad_token_id),
            logits_processor=LogitsProcessorList([UpstreamStyleProcessor(allowed, beams, plen)]),
        )
        return trie.lookup(out.sequences[:, plen:]).view(bs, beams).cpu()

    def floor():
        cfg = generation_config(trie, beams, beams, tok.pad_token_id, min_new_tokens=trie.max_len)
        return model.generate(input_ids=ids, attention_mask=mask, generation_config=cfg).sequences

    with torch.no_grad():
        out = {
            "ours": timed(ours, device, repeats),
            "generate": timed(ours_generate, device, repeats),
            "reference": timed(reference, device, repeats),
            "floor": timed(floor, device, repeats),
        }
    return out


def bench_processors(trie, allowed, seqs, rows, beams, vocab, device, repeats, seed):
    """Seconds per generated SID (all steps) of the two processors alone, on ``rows`` beams."""
    from genrec.decode import TrieConstrainedLogitsProcessor

    g = torch.Generator().manual_seed(seed)
    plen = 8
    pick = torch.randint(len(seqs), (rows,), generator=g)
    full = torch.tensor([[*seqs[i], trie.eos_token_id] for i in pick.tolist()])
    times = {"ours": 0.0, "reference": 0.0}
    for t in range(trie.max_len):
        ids = torch.cat([torch.ones(rows, plen, dtype=torch.long), full[:, :t]], 1).to(device)
        scores = torch.randn(rows, vocab, generator=g).to(device)
        procs = {
            "ours": TrieConstrainedLogitsProcessor(trie, plen),
            "reference": UpstreamStyleProcessor(allowed, beams, plen),
        }
        for name, proc in procs.items():
            best, _, _ = timed(
                lambda proc=proc, ids=ids, scores=scores: proc(ids, scores), device, repeats
            )
            times[name] += best
    return times


def run(args):
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    n_sid = args.levels * args.codes
    model, base = build_model(args.model_shape, n_sid + 1, device, dtype)
    eos = base + n_sid  # a dedicated EOS id after the SID tokens
    pad = 0
    seqs = random_sids(args.n_items, args.levels, args.codes, base, args.seed)
    trie = SidTrie(seqs, list(range(len(seqs))), eos).to(device)
    allowed = upstream_allowed_dict(seqs, eos)
    tok = SimpleNamespace(pad_token_id=pad, eos_token_id=eos)
    rng = np.random.default_rng(args.seed + 1)
    results = []
    for bs in args.batch_sizes:
        prompts = [
            rng.integers(
                1, base, size=int(rng.integers(args.prompt_len // 2, args.prompt_len))
            ).tolist()
            for _ in range(bs)
        ]
        timings = bench_batch(model, tok, trie, allowed, prompts, args.beams, device, args.repeats)
        (t_ours, items_ours, mem_ours), (t_gen, items_gen, mem_gen) = (
            timings["ours"],
            timings["generate"],
        )
        (t_ref, items_ref, mem_ref), (t_floor, _, mem_floor) = (
            timings["reference"],
            timings["floor"],
        )
        beams = args.beams
        proc_t = bench_processors(
            trie,
            allowed,
            seqs,
            bs * beams,
            beams,
            base + n_sid + 1,
            device,
            args.repeats,
            args.seed,
        )
        same = int((items_ours == items_ref).all(dim=1).sum())
        same_gen = int((items_ours == items_gen).all(dim=1).sum())
        row = {
            "batch_size": bs,
            "beams": beams,
            "ours_prompts_per_s": bs / t_ours,
            "ours_generate_prompts_per_s": bs / t_gen,
            "ours_vs_ours_generate": t_gen / t_ours,
            "rows_identical_to_generate_path": same_gen,
            "peak_mb_ours": mem_ours,
            "peak_mb_ours_generate": mem_gen,
            "peak_mb_reference": mem_ref,
            "peak_mb_floor": mem_floor,
            "reference_prompts_per_s": bs / t_ref,
            "floor_prompts_per_s": bs / t_floor,
            "ours_vs_floor": t_floor / t_ours,
            "ours_vs_reference": t_ref / t_ours,
            "rows_identical": same,
            "processor_ms_per_sid_ours": 1e3 * proc_t["ours"],
            "processor_ms_per_sid_reference": 1e3 * proc_t["reference"],
            "invalid_ours": int((items_ours < 0).sum()),
            "invalid_reference": int((items_ref < 0).sum()),
        }
        results.append(row)
        print(
            f"batch {bs:4d} beams {beams}: ours (prefill once) {row['ours_prompts_per_s']:8.2f}  "
            f"ours via generate {row['ours_generate_prompts_per_s']:8.2f}  "
            f"upstream-style {row['reference_prompts_per_s']:8.2f}  "
            f"unconstrained {row['floor_prompts_per_s']:8.2f} prompts/s | "
            f"ours/floor {row['ours_vs_floor']:.2f}x  ours/upstream {row['ours_vs_reference']:.2f}x | "
            f"same SIDs as reference {same}/{bs}, as generate path {same_gen}/{bs}, "
            f"invalid {row['invalid_ours']}/{row['invalid_reference']} | "
            f"peak MiB {mem_ours}/{mem_gen}/{mem_ref}/{mem_floor} | "
            f"processor alone: ours {row['processor_ms_per_sid_ours']:.1f} ms, "
            f"upstream-style {row['processor_ms_per_sid_reference']:.1f} ms per SID",
            flush=True,
        )
    meta = {
        "model_shape": args.model_shape,
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "dtype": str(dtype),
        "n_items": len(seqs),
        "levels": args.levels,
        "codes": args.codes,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump({"meta": meta, "results": results}, fh, indent=2)
    mismatch = [
        r["batch_size"]
        for r in results
        if r["rows_identical"] != r["batch_size"]
        or r["rows_identical_to_generate_path"] != r["batch_size"]
    ]
    if mismatch:
        print(f"WARNING: ours and the reference differ at batch sizes {mismatch}")
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-shape", choices=sorted(SHAPES), default="tiny")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32, 128])
    p.add_argument("--beams", type=int, default=50)
    p.add_argument("--n-items", type=int, default=3000)
    p.add_argument("--levels", type=int, default=3)
    p.add_argument("--codes", type=int, default=256)
    p.add_argument("--prompt-len", type=int, default=80, help="longest prompt (tokens)")
    p.add_argument("--repeats", type=int, default=2, help="timed runs per method (best counts)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    run(args)


if __name__ == "__main__":
    main()
