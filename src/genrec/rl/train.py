"""GRPO from the SFT policy with trie-constrained rollouts (trl ``GRPOTrainer``).

Entry point: :func:`train_grpo`. The reference model of the KL term is the SFT
model (trl rebuilds it from the policy's ``_name_or_path``, the SFT directory).
Rollouts come from :class:`genrec.rl.rollout.ConstrainedRollout` through trl's
``rollout_func`` (every completion is a valid SID, G per prompt); rewards from
:mod:`genrec.rl.rewards`. With ``num_gpus > 1`` every GPU runs :func:`train_rank`
through :func:`genrec.distributed.launch`.

Checkpoints go to ``checkpoint_dir`` (undeclared by the workflow) and a rerun
resumes from the newest one, unless the training parameters changed since
(:mod:`genrec.rl.resume`); the resumed run ends with the uninterrupted run's
model, log and run totals (:class:`genrec.rl.trainer.EpochReplaySampler`,
:func:`genrec.checkpoint.log_at_checkpoints`, :class:`genrec.rl.trainer.RunCounters`;
the last log entry's ``train_loss`` is the whole run's). The ``GRPOConfig`` comes from :mod:`genrec.rl.config`,
the outputs are written by :mod:`genrec.rl.outputs` (curves: :mod:`genrec.rl.plot`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from genrec.checkpoint import log_at_checkpoints, run_train_loss
from genrec.distributed import launch, needs_launch, pick_device, rank_info
from genrec.rl.config import grpo_config
from genrec.rl.outputs import write_outputs
from genrec.rl.params import RlParams
from genrec.rl.resume import fingerprint, finished_state, prepare_checkpoint_dir

log = logging.getLogger(__name__)


def _local_device(device: str) -> str:
    """This rank's device: ``cuda:<LOCAL_RANK>`` under ``accelerate launch``."""
    return f"cuda:{rank_info()[2]}" if device == "cuda" else device


def train_grpo(
    sft_model: str | Path,
    train: str | Path,
    items: str | Path,
    sids: str | Path,
    out_model: str | Path,
    out_history: str | Path,
    out_curves: str | Path,
    params: RlParams,
    embeddings: str | Path | None = None,
    sasrec_model: str | Path | None = None,
    sasrec_config: str | Path | None = None,
    checkpoint_dir: str | Path = "checkpoints/rl",
    num_gpus: int = 0,
    sid_method: str | None = None,
    callbacks: tuple = (),
) -> None:
    """Train the SFT model at ``sft_model`` with GRPO; write model, history and curves.

    ``params``: :class:`~genrec.rl.params.RlParams` (outside the workflow
    ``RlParams.defaults(**overrides)``). ``embeddings``
    is needed when ``rewards.semantic`` > 0, the SASRec files when ``rewards.cf``
    > 0. ``out_model`` gets ``save_pretrained`` model + tokenizer, ``out_history``
    the trainer's log history and run facts, ``out_curves`` a PNG of the reward,
    per-reward, KL and loss curves. ``callbacks``: extra ``TrainerCallback`` objects
    (benchmarks; in-process runs only, not with a launch over several GPUs).
    """
    kwargs = {
        "sft_model": str(sft_model),
        "train": str(train),
        "items": str(items),
        "sids": str(sids),
        "out_model": str(out_model),
        "out_history": str(out_history),
        "out_curves": str(out_curves),
        "params": params,
        "embeddings": None if embeddings is None else str(embeddings),
        "sasrec_model": None if sasrec_model is None else str(sasrec_model),
        "sasrec_config": None if sasrec_config is None else str(sasrec_config),
        "checkpoint_dir": str(checkpoint_dir),
        "num_gpus": num_gpus,
        "sid_method": sid_method,
    }
    # Decided once, before any rank starts: ranks must agree on where they resume.
    inputs = (sft_model, train, items, sids, embeddings, sasrec_model, sasrec_config)
    digest, settings = fingerprint(params, inputs)
    kwargs["resume"] = prepare_checkpoint_dir(Path(checkpoint_dir), digest, settings)
    if needs_launch(num_gpus):  # one GPU of several: a launched rank that sees one
        if callbacks:
            raise ValueError("callbacks cannot travel to launched ranks; run in process")
        args_file = Path(checkpoint_dir) / "launch_args.json"
        launch("genrec.rl.train:train_rank", kwargs, num_gpus, args_file)
        return
    _train(**kwargs, callbacks=callbacks)


def train_rank(**kwargs) -> None:
    """One rank of a launched GRPO run (:func:`genrec.distributed.launch`)."""
    _train(**kwargs)


def _length_grouped(dataset, rollout, params: RlParams):
    """``dataset`` in :func:`genrec.rl.dataset.length_grouped_order`, batches of one rollout
    call of all ranks (prompt lengths in tokens, as the rollout encodes them)."""
    from genrec.rl.dataset import length_grouped_order

    per_call = params.per_device_batch_size * params.gradient_accumulation_steps
    batch = per_call * rank_info()[1] // params.num_generations
    lengths = np.array([len(rollout.encode(p)) for p in dataset["prompt"]])
    return dataset.select(length_grouped_order(lengths, batch, params.seed).tolist())


def _load_cf_scorer(sasrec_model, sasrec_config, device):
    from genrec.baselines.sasrec import SASRecScorer

    if sasrec_model is None or sasrec_config is None:
        raise ValueError("rl.rewards.cf > 0 needs the SASRec model.pt and sasrec_config.json")
    return SASRecScorer.load(sasrec_model, sasrec_config, device)


def _load_embeddings(path, n_items: int) -> np.ndarray:
    if path is None:
        raise ValueError("rl.rewards.semantic > 0 needs the item embeddings (embeddings.npy)")
    emb = np.load(path)
    if emb.ndim != 2 or len(emb) != n_items:
        raise ValueError(f"{path}: expected float[{n_items}, d] item embeddings, got {emb.shape}")
    return emb


def _train(
    sft_model,
    train,
    items,
    sids,
    out_model,
    out_history,
    out_curves,
    params,
    embeddings,
    sasrec_model,
    sasrec_config,
    checkpoint_dir,
    num_gpus,
    sid_method,
    resume,
    callbacks=(),
) -> None:
    import pandas as pd

    from genrec.lm import load_model_and_tokenizer, read_prompt_limit, sid_token_ids
    from genrec.rl.dataset import build_rl_dataset
    from genrec.rl.rewards import make_reward_funcs
    from genrec.rl.rollout import ConstrainedRollout
    from genrec.rl.trainer import DivergenceGuard, RunCounters, SafeGRPOTrainer, TimeLimit

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    device = pick_device(num_gpus)
    model, tokenizer = load_model_and_tokenizer(sft_model, device="cpu", dtype="float32")
    model.train()
    sids_df = pd.read_parquet(sids)
    item_tokens = sid_token_ids(tokenizer, sids_df)
    n_items = len(pd.read_parquet(items, columns=["item_id"]))

    dataset = build_rl_dataset(
        train, items, sids, params.prompts, params.seed, params.prompt_selection
    )
    weights = params.rewards
    emb = _load_embeddings(embeddings, n_items) if weights.semantic else None
    scorer = (
        _load_cf_scorer(sasrec_model, sasrec_config, _local_device(device)) if weights.cf else None
    )
    reward_funcs, reward_weights = make_reward_funcs(weights.to_dict(), emb, scorer)
    rollout = ConstrainedRollout(
        tokenizer,
        item_tokens,
        mode=params.rollout,
        temperature=params.temperature,
        max_prompt_length=read_prompt_limit(sft_model),
    )

    if params.group_by_length:
        dataset = _length_grouped(dataset, rollout, params)
    args = grpo_config(params, checkpoint_dir, device)
    args.reward_weights = reward_weights
    facts = {
        "sid_method": sid_method,
        "sft_model": str(sft_model),
        "n_prompts": len(dataset),
        "prompt_counts": {k: int(v) for k, v in pd.Series(dataset["task"]).value_counts().items()},
        "num_generations": params.num_generations,
        "rollout": params.rollout,
        "reward_weights": dict(
            zip([f.__name__ for f in reward_funcs], reward_weights, strict=True)
        ),
        "resumed_from": resume,
    }
    counters = RunCounters(rollout)
    done = finished_state(resume)
    if done is not None:
        # transformers would run one more step when resuming a finished run: load it instead
        from transformers import AutoModelForCausalLM

        log.info("%s already holds the finished run (step %d)", resume, done["global_step"])
        counters.load(resume)  # the finished run's totals; nothing trains here
        if rank_info()[0] == 0:
            policy = AutoModelForCausalLM.from_pretrained(resume, dtype="float32")
            write_outputs(
                policy,
                tokenizer,
                done["log_history"],
                done["global_step"],
                facts,
                counters.snapshot(),
                rollout.max_prompt_length,
                out_model,
                out_history,
                out_curves,
            )
        return

    limit = TimeLimit(60 * params.max_train_minutes) if params.max_train_minutes else None
    trainer = SafeGRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        rollout_func=rollout,
        # a log at every checkpoint: trl's metrics summed since the last log are not saved
        callbacks=[DivergenceGuard("GRPO"), log_at_checkpoints(), *callbacks]
        + ([limit] if limit else []),
    )
    trainer.run_counters = counters
    trainer.shared_prompt_scoring = params.shared_prompt_scoring
    trainer.restore_ref_model(resume)
    log.info(
        "GRPO: %d prompts, G=%d, rollout=%s, rewards %s, device %s",
        len(dataset),
        params.num_generations,
        params.rollout,
        facts["reward_weights"],
        device,
    )
    counters.start(resume)
    trainer.train(resume_from_checkpoint=resume)
    if limit is not None:
        facts["max_train_minutes"] = params.max_train_minutes
        facts["stopped_by_time_limit"] = limit.stopped
        if limit.stopped:
            log.info(
                "GRPO stopped by rl.max_train_minutes = %s at step %d",
                params.max_train_minutes,
                trainer.state.global_step,
            )
    if not trainer.is_world_process_zero():
        return
    history = [dict(h) for h in trainer.state.log_history]
    if history and "train_loss" in history[-1]:  # the Trainer's: this process's steps only
        history[-1]["train_loss"] = run_train_loss(history)
    write_outputs(
        trainer.accelerator.unwrap_model(trainer.model),
        tokenizer,
        history,
        int(trainer.state.global_step),
        facts,
        counters.snapshot(),
        rollout.max_prompt_length,
        out_model,
        out_history,
        out_curves,
    )
