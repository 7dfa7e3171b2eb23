"""Supervised fine-tuning of the SID language model with ``transformers.Trainer``.

Entry point: :func:`train_sft`. With ``num_gpus > 1`` it prepares the initial
model once, then runs :func:`train_rank` on every GPU (one DDP rank each)
through :func:`genrec.distributed.launch`.

Trainer checkpoints live in ``checkpoint_dir`` (a path no rule declares): a
killed job that Snakemake reruns resumes from the last checkpoint, and ends
with the model, losses and best checkpoint of an uninterrupted run (see
:class:`EpochSeededSampler` and :func:`genrec.checkpoint.log_at_checkpoints`
for what that takes). The
directory carries a fingerprint of the config and inputs; a run with a
different config starts afresh. The best model (lowest validation loss) and
its tokenizer go to ``model_dir``; loss curves to ``loss_json``/``loss_png``.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from genrec import checkpoint
from genrec.distributed import needs_launch, peak_gpu_memory_mb, rank_info
from genrec.io import atomic_path, write_json
from genrec.lm import (
    build_model_and_tokenizer,
    compile_decoder_layers,
    encode_example,
    freeze_llm,
    prompt_token_limit,
    strip_sid_tokens,
    write_prompt_limit,
)
from genrec.sft.loss import ResponseCollator, response_loss
from genrec.sft.params import SftTrainParams
from genrec.sft.plot import plot_loss

log = logging.getLogger(__name__)

INIT_DIR = "init"


def fingerprint(
    datasets_dir: str | Path,
    sids_parquet: str | Path,
    params: SftTrainParams,
    base_model_dir: str | Path | None = None,
) -> str:
    """Hash of everything that determines the training run (inputs' bytes and config).

    A converted backbone counts through its ``genrec_base_model.json`` (which
    holds the source's SHA-256), not through its weights.
    """
    backbone = None
    if base_model_dir is not None:
        meta = Path(base_model_dir) / "genrec_base_model.json"
        backbone = meta if meta.is_file() else Path(base_model_dir) / "config.json"
    return checkpoint.fingerprint(
        params.fingerprint_fields(), [datasets_dir, sids_parquet, backbone]
    )


def _use_bf16(setting, use_gpu: bool) -> bool:
    import torch

    gpu = use_gpu and torch.cuda.is_available()
    if setting == "auto":
        return gpu and torch.cuda.is_bf16_supported()
    if setting and not gpu:
        raise ValueError("sft.bf16 is true but the job runs without a CUDA GPU")
    return bool(setting)


def prepare_checkpoint_dir(
    datasets_dir: str | Path,
    sids_parquet: str | Path,
    checkpoint_dir: str | Path,
    params: SftTrainParams,
    base_model_dir: str | Path | None = None,
) -> Path:
    """Make ``checkpoint_dir`` hold the initial model for this config; return its ``init`` dir.

    Reuses the directory (and so its Trainer checkpoints) when the fingerprint
    matches, otherwise wipes it and builds the initial model and tokenizer
    (:func:`genrec.lm.build_model_and_tokenizer`) into ``init/``.
    """
    from datasets import load_from_disk

    ckpt = Path(checkpoint_dir)
    fp = fingerprint(datasets_dir, sids_parquet, params, base_model_dir)
    init = ckpt / INIT_DIR
    if checkpoint.stamped_with(ckpt, fp) and init.is_dir():
        log.info("reusing %s (same config and inputs)", ckpt)
        return init
    if ckpt.exists():
        log.info("config or inputs changed: clearing %s", ckpt)
        shutil.rmtree(ckpt)
    ckpt.mkdir(parents=True)
    sids = pd.read_parquet(sids_parquet)
    train = load_from_disk(str(datasets_dir))["train"]
    corpus = (
        strip_sid_tokens(f"{p}{r}") for p, r in zip(train["prompt"], train["response"], strict=True)
    )
    model, tokenizer, sid_ids = build_model_and_tokenizer(
        params.lm, sids, corpus, params.seed, base_model_dir
    )
    with atomic_path(init, directory=True) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json({"sid_token_ids": [int(i) for i in sid_ids]}, tmp / "genrec_sid_tokens.json")
    checkpoint.stamp(ckpt, fp)
    return init


def tokenize_datasets(dd, tokenizer, cutoff_len: int, max_prompt_tokens: int | None = None):
    """Token ids and labels (loss on the response only) for every split of ``dd``."""

    def encode(batch):
        out = {"input_ids": [], "attention_mask": [], "labels": [], "length": []}
        for prompt, response in zip(batch["prompt"], batch["response"], strict=True):
            ex = encode_example(tokenizer, prompt, response, cutoff_len, max_prompt_tokens)
            if ex is not None:
                for k in ("input_ids", "attention_mask", "labels"):
                    out[k].append(ex[k])
                out["length"].append(len(ex["input_ids"]))
        return out

    result = {}
    for split, ds in dd.items():
        enc = ds.map(encode, batched=True, remove_columns=ds.column_names, keep_in_memory=True)
        if len(enc) < len(ds):
            log.warning(
                "%s: dropped %d examples whose response exceeds cutoff_len",
                split,
                len(ds) - len(enc),
            )
        if len(enc) == 0:
            raise ValueError(
                f"SFT {split} set is empty after tokenisation (cutoff_len {cutoff_len})"
            )
        lengths = enc["length"]
        log.info(
            "%s: %d examples, tokens mean %.1f max %d",
            split,
            len(enc),
            sum(lengths) / len(lengths),
            max(lengths),
        )
        result[split] = enc
    return result


def _loss_curves(log_history: list[dict]) -> dict:
    train = [
        {
            "step": e["step"],
            "epoch": e.get("epoch"),
            "loss": e["loss"],
            "learning_rate": e.get("learning_rate"),
        }
        for e in log_history
        if "loss" in e and "step" in e
    ]
    valid = [
        {"step": e["step"], "epoch": e.get("epoch"), "loss": e["eval_loss"]}
        for e in log_history
        if "eval_loss" in e
    ]
    return {"train": train, "valid": valid}


def _training_args(
    sft: SftTrainParams,
    checkpoint_dir: Path,
    world_size: int,
    use_gpu: bool,
    group_by_length: bool = True,
    resuming: bool = False,
):
    import torch
    from transformers import TrainingArguments

    per_device = sft.per_device_batch_size
    if sft.global_batch_size % (per_device * world_size):
        raise ValueError(
            f"sft.global_batch_size {sft.global_batch_size} is not a multiple of "
            f"per_device_batch_size {per_device} x {world_size} process(es)"
        )
    accum = sft.global_batch_size // (per_device * world_size)
    steps = sft.eval_steps
    strategy = "epoch" if steps is None else "steps"
    gpu = use_gpu and torch.cuda.is_available()
    # batches of similar lengths waste little compute on padding (seeded, like random order)
    params = inspect.signature(TrainingArguments.__init__).parameters
    if not group_by_length:  # benchmarks/sft_throughput.py's baseline: random order
        grouping = {}
    elif "train_sampling_strategy" in params:  # newer transformers
        grouping = {"train_sampling_strategy": "group_by_length"}
    elif "group_by_length" in params:
        grouping = {"group_by_length": True}
    else:
        grouping = {}
    return TrainingArguments(
        **grouping,
        length_column_name="length",
        output_dir=str(checkpoint_dir),
        num_train_epochs=sft.epochs,
        max_steps=sft.max_steps if sft.max_steps is not None else -1,
        learning_rate=sft.learning_rate,
        lr_scheduler_type=sft.scheduler,
        warmup_steps=sft.warmup_ratio,  # a float < 1 is a fraction of the total steps
        weight_decay=0.0 if sft.lm.freeze_llm else sft.weight_decay,
        max_grad_norm=sft.max_grad_norm,
        per_device_train_batch_size=per_device,
        per_device_eval_batch_size=sft.per_device_eval_batch_size,
        gradient_accumulation_steps=accum,
        eval_strategy=strategy,
        save_strategy=strategy,
        eval_steps=steps,
        save_steps=steps,
        # the untrained model's validation loss; not again when resuming: it would log the
        # checkpoint's loss twice and count against early stopping's patience
        eval_on_start=not resuming,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        prediction_loss_only=True,
        logging_strategy="steps",
        logging_steps=sft.logging_steps,
        logging_first_step=True,
        bf16=_use_bf16(sft.bf16, gpu),
        use_cpu=not gpu,
        # one fused kernel per optimizer step (the default from transformers 5.2x on; older
        # versions loop over parameters: 1.2x samples/s over an SFT epoch on an H200)
        optim="adamw_torch_fused",
        seed=sft.seed,
        data_seed=sft.seed,
        dataloader_num_workers=sft.dataloader_workers,
        report_to="none",
        ddp_find_unused_parameters=False if world_size > 1 else None,
    )


def load_training_inputs(
    init: Path, datasets_dir: Path, sids_parquet: Path, cutoff_len: int, freeze: bool
):
    """The initial model (float32), its tokenizer (right padding), tokenised splits, prompt limit."""
    from datasets import load_from_disk
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(init)
    tokenizer.padding_side = "right"
    model = AutoModelForCausalLM.from_pretrained(init, dtype="float32")
    if freeze:
        sid_ids = json.loads((init / "genrec_sid_tokens.json").read_text())["sid_token_ids"]
        freeze_llm(model, sid_ids)
    dd = load_from_disk(str(datasets_dir), keep_in_memory=True)
    max_sid_len = int(pd.read_parquet(sids_parquet, columns=["tokens"])["tokens"].map(len).max())
    prompt_limit = prompt_token_limit(cutoff_len, max_sid_len)
    data = tokenize_datasets(
        {"train": dd["train"], "valid": dd["valid"]}, tokenizer, cutoff_len, prompt_limit
    )
    return model, tokenizer, data, prompt_limit


class EpochSeededSampler(checkpoint.EpochSampler):
    """A length-grouped sampler whose order in epoch ``e`` depends on ``seed + e`` alone.

    transformers' ``LengthGroupedSampler`` draws its permutation from the global torch
    RNG when an epoch starts; a run resumed in the middle of an epoch draws it from the
    RNG of the resumed process instead, and so trains the rest of that epoch on other
    batches. Here every epoch's permutation comes from a generator seeded with
    ``seed + epoch`` (the Trainer calls :meth:`set_epoch`), so a resumed epoch replays
    the uninterrupted run's order, and the skipped batches are the ones already trained.
    """

    def __init__(self, sampler, seed: int):
        super().__init__(sampler)  # a LengthGroupedSampler (its `generator` is set per epoch)
        self.seed = seed

    def __iter__(self):
        import torch

        self.sampler.generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(self.sampler)


def _sft_trainer_class():
    from transformers import Trainer
    from transformers.trainer_pt_utils import LengthGroupedSampler

    class SftTrainer(Trainer):
        """``Trainer`` whose length-grouped training order is seeded per epoch
        (:class:`EpochSeededSampler`): exact resumption from a checkpoint."""

        def _get_train_sampler(self, train_dataset=None):
            sampler = super()._get_train_sampler(train_dataset)
            if isinstance(sampler, LengthGroupedSampler):
                seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
                return EpochSeededSampler(sampler, seed)
            return sampler

    return SftTrainer


def make_trainer(
    model, tokenizer, args, data, callbacks=(), response_only_logits=True, pad_to_multiple_of=1
):
    """The ``transformers.Trainer`` for SFT on ``data['train']``, validated on ``data['valid']``.

    ``response_only_logits`` (the default) runs the LM head only over the
    response span (:mod:`genrec.sft.loss`); False is transformers' own
    full-logits loss (same value; kept for ``benchmarks/sft_throughput.py``).
    Batches are padded to their longest example, rounded up to a multiple of
    ``pad_to_multiple_of`` (``sft.pad_to_multiple_of``).
    """
    from transformers import DataCollatorForSeq2Seq

    multiple = pad_to_multiple_of if pad_to_multiple_of > 1 else None
    if response_only_logits:
        collator, loss_func = ResponseCollator(tokenizer, multiple), response_loss
    else:
        collator = DataCollatorForSeq2Seq(
            tokenizer, padding=True, label_pad_token_id=-100, pad_to_multiple_of=multiple
        )
        loss_func = None
    return _sft_trainer_class()(
        model=model,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data["valid"],
        data_collator=collator,
        compute_loss_func=loss_func,
        processing_class=tokenizer,
        callbacks=[checkpoint.log_at_checkpoints(), *callbacks],
    )


def check_cuda_graphs(params: SftTrainParams, world_size: int, use_gpu: bool) -> None:
    """Refuse ``sft.cuda_graphs`` before any work where it cannot run: without a GPU,
    or with gradient accumulation (a gradient is a graph output that the next
    micro-batch's graphs overwrite; :mod:`genrec.lm.compile`)."""
    if not params.cuda_graphs:
        return
    if not use_gpu:
        raise RuntimeError("sft.cuda_graphs: true needs the SFT job on a CUDA GPU")
    per_step = params.per_device_batch_size * world_size
    if params.global_batch_size != per_step:
        raise RuntimeError(
            f"sft.cuda_graphs: true cannot accumulate gradients: sft.global_batch_size "
            f"{params.global_batch_size} must equal per_device_batch_size "
            f"{params.per_device_batch_size} x {world_size} GPU(s)"
        )


def _train_in_process(
    datasets_dir: Path,
    sids_parquet: Path,
    model_dir: Path,
    loss_json: Path,
    loss_png: Path,
    checkpoint_dir: Path,
    params: SftTrainParams,
    use_gpu: bool = False,
    callbacks: Sequence = (),
    base_model_dir: Path | None = None,
) -> dict:
    from transformers import EarlyStoppingCallback, TrainerState, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    _, world_size, _ = rank_info()  # sft.cuda_graphs was checked by train_sft
    if world_size == 1:
        init = prepare_checkpoint_dir(
            datasets_dir, sids_parquet, checkpoint_dir, params, base_model_dir
        )
    else:  # the launching process prepared it
        init = checkpoint_dir / INIT_DIR
        if not init.is_dir():
            raise FileNotFoundError(f"{init}: initial model missing (launch through train_sft)")
    set_seed(params.seed)
    model, tokenizer, data, prompt_limit = load_training_inputs(
        init, datasets_dir, sids_parquet, params.cutoff_len, params.lm.freeze_llm
    )

    last = get_last_checkpoint(str(checkpoint_dir)) if checkpoint_dir.is_dir() else None
    args = _training_args(params, checkpoint_dir, world_size, use_gpu, resuming=last is not None)
    if params.cuda_graphs and params.pad_to_multiple_of == 1:
        log.warning(
            "sft.cuda_graphs with sft.pad_to_multiple_of: 1 records graphs for every batch "
            "width up to cutoff_len %d; a multiple such as 16 or 64 bounds them",
            params.cutoff_len,
        )
    if params.compile:
        compile_decoder_layers(model, cuda_graphs=params.cuda_graphs)
    cbs = list(callbacks)
    if params.early_stopping_patience:
        cbs.append(EarlyStoppingCallback(early_stopping_patience=params.early_stopping_patience))
    trainer = make_trainer(
        model, tokenizer, args, data, cbs, pad_to_multiple_of=params.pad_to_multiple_of
    )
    resumed_from = 0
    if last is not None:
        resumed_from = TrainerState.load_from_json(
            os.path.join(last, "trainer_state.json")
        ).global_step
        log.info("resuming from %s (step %d)", last, resumed_from)
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=last)
    runtime = time.perf_counter() - start

    state = trainer.state
    curves = _loss_curves(state.log_history)
    summary = {
        "global_step": state.global_step,
        "max_steps": state.max_steps,
        "resumed_from_step": resumed_from,
        "stopped_early": state.global_step < state.max_steps,
        "best_eval_loss": state.best_metric,
        "best_checkpoint": Path(state.best_model_checkpoint).name
        if state.best_model_checkpoint
        else None,
        # of the whole run (result.training_loss: of this process's steps only)
        "train_loss": checkpoint.run_train_loss(state.log_history),
        "train_runtime_s": round(runtime, 2),
        # of the whole train() call: evaluation and checkpoint saves included
        "train_samples_per_second": result.metrics.get("train_samples_per_second"),
        "train_tokens_per_epoch": int(sum(data["train"]["length"])),
        "world_size": world_size,
        "peak_gpu_memory_mb": peak_gpu_memory_mb(),
        "global_batch_size": params.global_batch_size,
        "n_train": len(data["train"]),
        "n_valid": len(data["valid"]),
        "freeze_llm": params.lm.freeze_llm,
        **curves,
    }
    if trainer.is_world_process_zero():
        tokenizer.padding_side = "left"  # generation (evaluation, RL) pads on the left
        with atomic_path(model_dir, directory=True) as tmp:
            trainer.model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            write_prompt_limit(tmp, prompt_limit)
        write_json(summary, loss_json)
        plot_loss(curves, loss_png)
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero() and not params.keep_checkpoints:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    log.info(
        "SFT done: %d steps (resumed from %d), best validation loss %s, %.1f s",
        state.global_step,
        resumed_from,
        state.best_metric,
        runtime,
    )
    return summary


def train_sft(
    datasets_dir: str | Path,
    sids_parquet: str | Path,
    model_dir: str | Path,
    loss_json: str | Path,
    loss_png: str | Path,
    checkpoint_dir: str | Path,
    params: SftTrainParams,
    num_gpus: int = 0,
    callbacks: Sequence = (),
    base_model_dir: str | Path | None = None,
) -> dict:
    """Fine-tune the LM on the SFT datasets; write the model, ``loss.json`` and ``loss.png``.

    ``datasets_dir`` is :func:`genrec.sft.dataset.build_sft_datasets`' output,
    ``base_model_dir`` the converted backbone (None for ``lm.base_model: scratch``),
    ``params`` the :class:`~genrec.sft.params.SftTrainParams` (``sft`` training keys
    and ``lm``; outside the workflow ``SftTrainParams.defaults(...)``), ``num_gpus`` the rule's GPU count (> 1:
    one DDP rank per GPU through ``accelerate launch``). ``callbacks`` are
    extra ``TrainerCallback`` objects (single-process runs only). Returns the
    training summary that ``loss.json`` holds.
    """
    paths = {
        "datasets_dir": Path(datasets_dir),
        "sids_parquet": Path(sids_parquet),
        "model_dir": Path(model_dir),
        "loss_json": Path(loss_json),
        "loss_png": Path(loss_png),
        "checkpoint_dir": Path(checkpoint_dir),
    }
    check_cuda_graphs(params, max(1, num_gpus), num_gpus > 0)
    if needs_launch(num_gpus):  # one GPU of several: a launched rank that sees one
        from genrec.distributed import launch

        if callbacks:
            raise ValueError("callbacks cannot cross `accelerate launch`")
        prepare_checkpoint_dir(
            paths["datasets_dir"],
            paths["sids_parquet"],
            paths["checkpoint_dir"],
            params,
            base_model_dir,
        )
        args_file = paths["checkpoint_dir"] / "launch_args.json"
        kwargs = {**paths, "params": params}
        mixed = "bf16" if _use_bf16(params.bf16, True) else "no"
        launch("genrec.sft.train:train_rank", kwargs, num_gpus, args_file, mixed_precision=mixed)
        return json.loads(paths["loss_json"].read_text())
    return _train_in_process(
        **paths,
        params=params,
        use_gpu=num_gpus > 0,
        callbacks=callbacks,
        base_model_dir=None if base_model_dir is None else Path(base_model_dir),
    )


def train_rank(
    datasets_dir: str,
    sids_parquet: str,
    model_dir: str,
    loss_json: str,
    loss_png: str,
    checkpoint_dir: str,
    params: SftTrainParams,
) -> dict:
    """One DDP rank of a launched SFT run (:func:`genrec.distributed.launch`)."""
    return _train_in_process(
        Path(datasets_dir),
        Path(sids_parquet),
        Path(model_dir),
        Path(loss_json),
        Path(loss_png),
        Path(checkpoint_dir),
        params,
        use_gpu=True,
    )
