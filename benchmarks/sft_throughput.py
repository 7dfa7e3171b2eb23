"""SFT throughput: batch order x LM-head span, on the workflow's own SFT code path.

Each variant trains the workflow's initial model (``genrec.sft.train``: same
tokenisation, ``TrainingArguments``, Trainer) on the SFT datasets of a finished
``build_sft_datasets`` job:

  padded            random batch order, full-vocabulary logits at every position
  grouped           length-grouped batches (transformers' LengthGroupedSampler), full logits
  grouped+response  length-grouped, LM head only over the response span
                    (``genrec.sft.loss``)
  padded+response   random order, response span only
  grouped+response+compile  grouped+response under ``torch.compile`` (TrainingArguments.torch_compile)
  grouped+response+fused    with the fused AdamW step (``adamw_torch_fused``): the default
  grouped+response+fused+workers  ... and collation in 2 DataLoader worker processes
  grouped+response+fused+compiled-layers  ... and ``torch.compile`` of each decoder
                    layer (``sft.compile``, ``genrec.lm.compile``)
  ...+compiled-layers+workers  ... and collation in 4 DataLoader processes
                    (``sft.dataloader_workers``)
  ...+compiled-layers+workers+vocab64  ... and the embedding / LM-head rows padded to a
                    multiple of 64 (``lm.vocab_multiple_of``): aligned tensor-core kernels
  ...+vocab64+pad16+cudagraphs  ... and the compiled layers replayed as CUDA graphs
                    (``sft.cuda_graphs``), batch widths padded to a multiple of 16
                    (``sft.pad_to_multiple_of``; +pad64: of 64)
  ...+vocab64+cpp-wrapper  the compiled layers with Inductor's C++ wrapper
                    (``torch._inductor.config.cpp_wrapper``; benchmark only)

(every variant without ``+fused`` uses the per-parameter ``adamw_torch`` step, the
optimizer before the fused one became the default; every variant starts from
0 workers and the exact vocabulary, whatever the config says; docs/results/
sft_compile_h200.json's ``+nocache`` rows are today's ``+fused`` path: its
``+fused`` row forced a KV cache the Trainer never builds)

and reports samples/s, real (non-pad) tokens/s, the share of padded positions,
the positions the LM head sees, peak GPU memory and, with ``--epoch``, the
validation loss after one full epoch of the named variants (``--epoch`` names
them). ``--profile`` prints the top CUDA kernels and host ops of a few steps of
each variant. Timing starts after ``--warmup`` steps (their wall time, compilation
included, is ``warmup_s``) and excludes evaluation and saving.

    python benchmarks/sft_throughput.py --config config/amazon18-industrial.yaml \\
        --results results/amazon18-industrial --method rqvae \\
        --base-model results/models/smollm2-135m --steps 120 \\
        --epoch grouped grouped+response --out sft_throughput.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import torch
import torch._dynamo
import torch._inductor.config
import yaml

from genrec.config import validate_config
from genrec.sft.params import SftTrainParams

# The variants without `+fused` keep the optimizer of the runs before the fused step
# became the default (adamw_torch, a loop over parameters), so they stay comparable
# with docs/results/sft_throughput_h200.json.
LOOP = {"optim": "adamw_torch"}
FUSED = {"optim": "adamw_torch_fused"}
VARIANTS = {
    "padded": dict(group_by_length=False, response_only_logits=False, **LOOP),
    "grouped": dict(group_by_length=True, response_only_logits=False, **LOOP),
    "grouped+response": dict(group_by_length=True, response_only_logits=True, **LOOP),
    "padded+response": dict(group_by_length=False, response_only_logits=True, **LOOP),
    "grouped+response+compile": dict(
        group_by_length=True, response_only_logits=True, torch_compile=True, **LOOP
    ),
    "grouped+response+fused": dict(group_by_length=True, response_only_logits=True, **FUSED),
    "grouped+response+fused+workers": dict(
        group_by_length=True, response_only_logits=True, dataloader_num_workers=2, **FUSED
    ),
    "grouped+response+fused+compiled-layers": dict(
        group_by_length=True, response_only_logits=True, compile_layers=True, **FUSED
    ),
    "grouped+response+fused+compiled-layers+workers": dict(
        group_by_length=True,
        response_only_logits=True,
        compile_layers=True,
        dataloader_num_workers=4,
        **FUSED,
    ),
    "grouped+response+fused+compiled-layers+workers+vocab64": dict(
        group_by_length=True,
        response_only_logits=True,
        compile_layers=True,
        dataloader_num_workers=4,
        vocab_multiple_of=64,
        **FUSED,
    ),
}
_DEFAULT = "grouped+response+fused+compiled-layers+workers+vocab64"
for _pad in (16, 64):
    VARIANTS[f"{_DEFAULT}+pad{_pad}+cudagraphs"] = dict(
        VARIANTS[_DEFAULT], pad_to_multiple_of=_pad, cuda_graphs=True
    )
VARIANTS[f"{_DEFAULT}+cpp-wrapper"] = dict(VARIANTS[_DEFAULT], cpp_wrapper=True)
PROFILED_STEPS = 5
# TrainingArguments fields a variant may set (the rest of its keys select code paths)
ARG_KEYS = ("torch_compile", "optim", "dataloader_num_workers")


class Counting:
    """Record real tokens, padded positions and LM-head positions of every batch a
    Trainer trains on (in the main process, so DataLoader workers may collate)."""

    def __init__(self, trainer):
        self.batches = []
        step = trainer.training_step

        def counted(model, inputs, *args, **kwargs):
            b, width = inputs["input_ids"].shape
            head = b * int(inputs.get("logits_to_keep", width) or width)
            self.batches.append((b, int(inputs["attention_mask"].sum()), b * width, head))
            return step(model, inputs, *args, **kwargs)

        trainer.training_step = counted


def _timer_callback(warmup: int, profile: bool):
    from transformers import TrainerCallback

    class Timer(TrainerCallback):
        def __init__(self):
            self.t0 = self.t1 = self.start = None
            self.prof = None

        def on_train_begin(self, args, state, control, **kw):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            # the profiled steps are the last 5 warm-up steps, outside the timed ones
            if profile and state.global_step == warmup - PROFILED_STEPS:
                self.prof = torch.profiler.profile(
                    activities=[
                        torch.profiler.ProfilerActivity.CPU,
                        torch.profiler.ProfilerActivity.CUDA,
                    ]
                )
                self.prof.__enter__()
                self.prof_start = time.perf_counter()
            if state.global_step == warmup:
                if self.prof is not None:
                    self.prof.__exit__(None, None, None)
                    self.prof_wall = time.perf_counter() - self.prof_start
                self.t0 = time.perf_counter()
            self.t1 = time.perf_counter()

    return Timer()


def run_variant(name, init, tokenizer, data, ns, sft, seed, steps, with_epoch):
    from transformers import AutoModelForCausalLM, set_seed

    from genrec.lm import compile_decoder_layers
    from genrec.lm.model import grow_embeddings
    from genrec.sft.train import _training_args, make_trainer

    opts = VARIANTS[name]
    # no graphs, CUDA graph trees or Inductor settings carried over from earlier variants
    torch._dynamo.reset()
    torch._inductor.config.cpp_wrapper = bool(opts.get("cpp_wrapper"))
    set_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(init, dtype="float32")
    if opts.get("vocab_multiple_of"):  # as lm.vocab_multiple_of pads the initial model
        grow_embeddings(model, len(tokenizer), opts["vocab_multiple_of"], seed)
    if opts.get("compile_layers"):
        compile_decoder_layers(model, cuda_graphs=opts.get("cuda_graphs", False))
    use_gpu = torch.cuda.is_available()
    with tempfile.TemporaryDirectory() as tmp:
        args = _training_args(sft, Path(tmp), 1, use_gpu, group_by_length=opts["group_by_length"])
        per_epoch = -(-len(data["train"]) // sft.global_batch_size)
        args = dataclasses.replace(
            args,
            max_steps=per_epoch if with_epoch else steps,
            eval_strategy="no",
            save_strategy="no",
            load_best_model_at_end=False,
            eval_on_start=False,
            logging_steps=max(steps, 50),
            disable_tqdm=True,
            **{k: opts[k] for k in ARG_KEYS if k in opts},
        )
        timer = _timer_callback(ns.warmup, ns.profile and not with_epoch)
        trainer = make_trainer(
            model,
            tokenizer,
            args,
            data,
            [timer],
            response_only_logits=opts["response_only_logits"],
            pad_to_multiple_of=opts.get("pad_to_multiple_of", 1),
        )
        counter = Counting(trainer)
        if use_gpu:
            torch.cuda.reset_peak_memory_stats()
        train_result = trainer.train()
        timed = counter.batches[ns.warmup : trainer.state.global_step]
        wall = timer.t1 - timer.t0
        samples = sum(b[0] for b in timed)
        real = sum(b[1] for b in timed)
        padded = sum(b[2] for b in timed)
        head = sum(b[3] for b in timed)
        row = {
            "variant": name,
            **opts,
            "steps_timed": len(timed),
            "samples_per_s": round(samples / wall, 1),
            "real_tokens_per_s": round(real / wall, 0),
            "padded_share": round(1 - real / padded, 3),
            "head_positions_share": round(head / padded, 3),
            "s_per_step": round(wall / max(len(timed), 1), 4),
            "embedding_rows": model.get_input_embeddings().weight.shape[0],
            "warmup_s": round(timer.t0 - timer.start, 2),
            "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20, 0) if use_gpu else None,
        }
        if with_epoch:
            row["epoch_valid_loss"] = round(trainer.evaluate()["eval_loss"], 4)
            row["epoch_train_loss"] = round(train_result.training_loss, 4)
        if timer.prof is not None:
            ka = timer.prof.key_averages()
            cuda_us = sum(e.self_device_time_total for e in ka)
            row["profile_gpu_busy_share"] = round(cuda_us / 1e6 / timer.prof_wall, 3)
            print(ka.table(sort_by="self_device_time_total", row_limit=12), flush=True)
            print(ka.table(sort_by="self_cpu_time_total", row_limit=15), flush=True)
            row["profile_kernels_per_step"] = round(
                sum(e.count for e in ka if e.device_type.name == "CUDA") / PROFILED_STEPS, 0
            )
    print(json.dumps(row), flush=True)
    del trainer, model
    torch._dynamo.reset()  # frees the CUDA graph pools of a cudagraphs variant
    if use_gpu:
        torch.cuda.empty_cache()
    return row


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--results", type=Path, required=True, help="results/<dataset>")
    parser.add_argument("--method", default="rqvae")
    parser.add_argument("--base-model", type=Path, default=None, help="converted backbone dir")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--epoch", nargs="*", default=[], choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=None, help="override sft batch sizes")
    parser.add_argument(
        "--profile", action="store_true", help=f"profile the last {PROFILED_STEPS} warm-up steps"
    )
    parser.add_argument("--out", type=Path, default=None)
    ns = parser.parse_args(argv)
    if ns.profile and ns.warmup <= PROFILED_STEPS:
        parser.error(f"--profile needs --warmup > {PROFILED_STEPS}")
    from genrec.logging import setup_logging
    from genrec.sft.train import load_training_inputs, prepare_checkpoint_dir

    setup_logging(None)
    config = yaml.safe_load(Path(ns.config).read_text())
    validate_config(config, Path(__file__).resolve().parents[1] / "config" / "schema.yaml")
    sft = SftTrainParams.from_config(config)
    if ns.batch_size:
        sft = sft.replace(per_device_batch_size=ns.batch_size, global_batch_size=ns.batch_size)
    # every variant starts from in-process collation and the exact vocabulary;
    # `+workers` and `+vocab64` set them themselves
    sft = sft.replace(dataloader_workers=0, lm=sft.lm.replace(vocab_multiple_of=1))
    ns.sids = ns.results / "sid" / ns.method / "sids.parquet"
    ckpt = Path(tempfile.mkdtemp(prefix="sft_throughput_"))
    init = prepare_checkpoint_dir(
        ns.results / "sft" / ns.method / "datasets",
        ns.sids,
        ckpt,
        sft,
        ns.base_model,
    )
    _, tokenizer, data, _ = load_training_inputs(
        init, ns.results / "sft" / ns.method / "datasets", ns.sids, sft.cutoff_len, False
    )
    rows = []
    for name, epoch in [(v, False) for v in ns.variants] + [(v, True) for v in ns.epoch]:
        try:
            rows.append(
                run_variant(name, init, tokenizer, data, ns, sft, sft.seed, ns.steps, epoch)
            )
        except Exception as exc:  # one failing variant (e.g. no compiler for torch.compile)
            print(json.dumps({"variant": name, "epoch": epoch, "error": repr(exc)}), flush=True)
    for epoch in (False, True):  # ratios within the short runs and within the epoch runs
        same = [r for r in rows if ("epoch_valid_loss" in r) == epoch and "error" not in r]
        ref = next((r for r in same if r["variant"] == "grouped"), None)
        for r in same if ref else []:
            r["samples_per_s_vs_grouped"] = round(r["samples_per_s"] / ref["samples_per_s"], 2)
    result = {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "batch_size": sft.per_device_batch_size,
        "cutoff_len": sft.cutoff_len,
        "base_model": str(ns.base_model) if ns.base_model else "scratch",
        "rows": rows,
    }
    print(json.dumps(result, indent=1))
    if ns.out:
        ns.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
