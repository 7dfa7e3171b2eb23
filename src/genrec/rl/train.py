"""GRPO from the SFT policy with trie-constrained rollouts (trl ``GRPOTrainer``).

Entry point: :func:`train_grpo`. The reference model of the KL term is the SFT
model (trl rebuilds it from the policy's ``_name_or_path``, the SFT directory).
Rollouts come from :class:`genrec.rl.rollout.ConstrainedRollout` through trl's
``rollout_func`` (every completion is a valid SID, G per prompt); rewards from
:mod:`genrec.rl.rewards`. With ``num_gpus > 1`` every GPU runs :func:`train_rank`
through :func:`genrec.distributed.launch`.

Checkpoints go to ``checkpoint_dir`` (undeclared by the workflow) and a rerun
resumes from the newest one, unless the training parameters changed since.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from genrec import checkpoint
from genrec.distributed import launch, peak_gpu_memory_mb, pick_device, visible_gpus
from genrec.io import atomic_path, write_json

log = logging.getLogger(__name__)


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _local_device(device: str) -> str:
    """This rank's device: ``cuda:<LOCAL_RANK>`` under ``accelerate launch``."""
    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if device == "cuda" else device


def _prepare_checkpoint_dir(checkpoint_dir: Path, digest: str, settings: dict) -> str | None:
    """The checkpoint to resume from, or None; stale checkpoints (other params) are removed."""
    from transformers.trainer_utils import get_last_checkpoint

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    if not checkpoint.stamped_with(checkpoint_dir, digest):
        stale = list(checkpoint_dir.glob("checkpoint-*"))
        if stale:
            log.warning("%s holds checkpoints of another RL run; starting afresh", checkpoint_dir)
        for sub in stale:
            shutil.rmtree(sub)
    checkpoint.stamp(checkpoint_dir, digest, settings)
    last = get_last_checkpoint(str(checkpoint_dir))
    if last:
        log.info("resuming from %s", last)
    return last


def grpo_config(params: dict, checkpoint_dir: str | Path, device: str, seed: int):
    """``trl.GRPOConfig`` for the ``rl`` config slice ``params``."""
    import torch
    from trl import GRPOConfig

    g = params["num_generations"]
    if params["per_device_batch_size"] % g:
        raise ValueError(
            f"rl.per_device_batch_size ({params['per_device_batch_size']}) must be a multiple of "
            f"rl.num_generations ({g}), so every group of G candidates stays on one device"
        )
    bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    return GRPOConfig(
        output_dir=str(checkpoint_dir),
        num_generations=g,
        per_device_train_batch_size=params["per_device_batch_size"],
        gradient_accumulation_steps=params["gradient_accumulation_steps"],
        learning_rate=params["learning_rate"],
        beta=params["beta"],
        num_train_epochs=params["epochs"],
        max_steps=params["max_steps"] if params["max_steps"] > 0 else -1,
        # trl divides the logits by this when scoring completions: beam search used none.
        temperature=params["temperature"] if params["rollout"] == "sample" else 1.0,
        logging_steps=params["logging_steps"],
        save_steps=params["save_steps"],
        save_total_limit=1,
        save_only_model=False,
        report_to="none",
        seed=seed,
        data_seed=seed,
        use_cpu=device == "cpu",
        bf16=bf16,
        disable_tqdm=False,
        dataloader_num_workers=0,
        remove_unused_columns=False,
    )


def train_grpo(
    sft_model: str | Path,
    train: str | Path,
    items: str | Path,
    sids: str | Path,
    out_model: str | Path,
    out_log: str | Path,
    out_curves: str | Path,
    params: dict,
    embeddings: str | Path | None = None,
    sasrec_model: str | Path | None = None,
    sasrec_config: str | Path | None = None,
    checkpoint_dir: str | Path = "checkpoints/rl",
    num_gpus: int = 0,
    sid_method: str | None = None,
) -> None:
    """Train the SFT model at ``sft_model`` with GRPO; write model, log and curves.

    ``params`` is the ``rl`` config slice (with ``seed`` resolved). ``embeddings``
    is needed when ``rewards.semantic`` > 0, the SASRec files when ``rewards.cf``
    > 0. ``out_model`` gets ``save_pretrained`` model + tokenizer, ``out_log``
    the trainer's log history and run facts, ``out_curves`` a PNG of the reward,
    per-reward, KL and loss curves.
    """
    kwargs = {
        "sft_model": str(sft_model),
        "train": str(train),
        "items": str(items),
        "sids": str(sids),
        "out_model": str(out_model),
        "out_log": str(out_log),
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
    settings = {k: v for k, v in params.items() if k not in ("save_steps", "logging_steps")}
    inputs = (sft_model, train, items, sids, embeddings, sasrec_model, sasrec_config)
    digest = checkpoint.fingerprint(settings, inputs)
    kwargs["resume"] = _prepare_checkpoint_dir(Path(checkpoint_dir), digest, settings)
    # Several GPUs visible to one process make Trainer wrap the model in DataParallel,
    # which GRPOTrainer refuses: one GPU then runs as a single launched rank that sees
    # one (genrec.distributed.launch restricts it).
    if (num_gpus > 1 or (num_gpus == 1 and visible_gpus() > 1)) and _world_size() == 1:
        args_file = Path(checkpoint_dir) / "launch_args.json"
        launch("genrec.rl.train:train_rank", kwargs, num_gpus, args_file)
        return
    _train(**kwargs)


def train_rank(**kwargs) -> None:
    """One rank of a launched GRPO run (:func:`genrec.distributed.launch`)."""
    _train(**kwargs)


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
    out_log,
    out_curves,
    params,
    embeddings,
    sasrec_model,
    sasrec_config,
    checkpoint_dir,
    num_gpus,
    sid_method,
    resume,
) -> None:
    import pandas as pd

    from genrec.lm import load_model_and_tokenizer, read_prompt_limit, sid_token_ids
    from genrec.rl.dataset import build_rl_dataset
    from genrec.rl.rewards import make_reward_funcs
    from genrec.rl.rollout import ConstrainedRollout
    from genrec.rl.trainer import DivergenceGuard, SafeGRPOTrainer

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    seed = int(params["seed"])
    device = pick_device(num_gpus)
    model, tokenizer = load_model_and_tokenizer(sft_model, device="cpu", dtype="float32")
    model.train()
    sids_df = pd.read_parquet(sids)
    item_tokens = sid_token_ids(tokenizer, sids_df)
    n_items = len(pd.read_parquet(items, columns=["item_id"]))

    dataset = build_rl_dataset(
        train, items, sids, params["prompts"], seed, params.get("prompt_selection", "random")
    )
    weights = params["rewards"]
    emb = _load_embeddings(embeddings, n_items) if weights.get("semantic", 0) else None
    scorer = (
        _load_cf_scorer(sasrec_model, sasrec_config, _local_device(device))
        if weights.get("cf", 0)
        else None
    )
    reward_funcs, reward_weights = make_reward_funcs(weights, emb, scorer)
    rollout = ConstrainedRollout(
        tokenizer,
        item_tokens,
        mode=params["rollout"],
        temperature=params["temperature"],
        max_prompt_length=read_prompt_limit(sft_model),
    )

    args = grpo_config(params, checkpoint_dir, device, seed)
    args.reward_weights = reward_weights
    facts = {
        "sid_method": sid_method,
        "sft_model": str(sft_model),
        "n_prompts": len(dataset),
        "prompt_counts": {k: int(v) for k, v in pd.Series(dataset["task"]).value_counts().items()},
        "num_generations": params["num_generations"],
        "rollout": params["rollout"],
        "reward_weights": dict(
            zip([f.__name__ for f in reward_funcs], reward_weights, strict=True)
        ),
        "resumed_from": resume,
    }
    done = _finished_state(resume)
    if done is not None:
        # transformers would run one more step when resuming a finished run: load it instead
        from transformers import AutoModelForCausalLM

        log.info("%s already holds the finished run (step %d)", resume, done["global_step"])
        if _world_size() == 1 or int(os.environ.get("RANK", "0")) == 0:
            policy = AutoModelForCausalLM.from_pretrained(resume, dtype="float32")
            _write_outputs(
                policy,
                tokenizer,
                done["log_history"],
                done["global_step"],
                facts,
                rollout,
                None,
                out_model,
                out_log,
                out_curves,
            )
        return

    trainer = SafeGRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        rollout_func=rollout,
        callbacks=[DivergenceGuard("GRPO")],
    )
    log.info(
        "GRPO: %d prompts, G=%d, rollout=%s, rewards %s, device %s",
        len(dataset),
        params["num_generations"],
        params["rollout"],
        facts["reward_weights"],
        device,
    )
    result = trainer.train(resume_from_checkpoint=resume)
    if not trainer.is_world_process_zero():
        return
    _write_outputs(
        trainer.accelerator.unwrap_model(trainer.model),
        tokenizer,
        [dict(h) for h in trainer.state.log_history],
        int(trainer.state.global_step),
        facts,
        rollout,
        result.metrics.get("train_runtime"),
        out_model,
        out_log,
        out_curves,
    )


def _finished_state(checkpoint: str | None) -> dict | None:
    """The trainer state of ``checkpoint`` when it is the end of its run, else None."""
    if checkpoint is None:
        return None
    path = Path(checkpoint) / "trainer_state.json"
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    if state.get("max_steps", 0) > 0 and state.get("global_step", 0) >= state["max_steps"]:
        return state
    return None


def _write_outputs(
    policy, tokenizer, history, global_step, facts, rollout, runtime, out_model, out_log, out_curves
) -> None:
    from genrec.lm import write_prompt_limit

    with atomic_path(out_model, directory=True) as tmp:
        policy.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_prompt_limit(tmp, rollout.max_prompt_length)
    summary = {
        **facts,
        "global_step": global_step,
        "rollout_calls": rollout.calls,
        "invalid_completions": rollout.invalid,
        "train_runtime": runtime,
        "peak_gpu_memory_mb": peak_gpu_memory_mb(),
        "log_history": history,
    }
    write_json(summary, out_log)
    method = facts.get("sid_method")
    plot_curves(history, out_curves, title=f"GRPO ({method})" if method else "GRPO")
    log.info("RL done: %d steps; model -> %s", global_step, out_model)


def curve_series(history: list[dict]) -> dict[str, tuple[list[int], list[float]]]:
    """Per logged metric (reward, rewards/<name>/mean, kl, loss) its (steps, values)."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for entry in history:
        step = entry.get("step")
        if step is None:
            continue
        for key, value in entry.items():
            keep = key in ("reward", "kl", "loss") or (
                key.startswith("rewards/") and key.endswith("/mean")
            )
            if keep and isinstance(value, int | float) and np.isfinite(value):
                xs, ys = out.setdefault(key, ([], []))
                xs.append(int(step))
                ys.append(float(value))
    return out


def plot_curves(history: list[dict], out_png: str | Path, title: str = "GRPO") -> None:
    """Reward (total and per reward), KL and loss against the training step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = curve_series(history)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    panels = (
        ("reward", [k for k in series if k == "reward" or k.startswith("rewards/")]),
        ("KL to the SFT model", ["kl"]),
        ("loss", ["loss"]),
    )
    for ax, (name, keys) in zip(axes, panels, strict=True):
        for key in keys:
            if key in series:
                xs, ys = series[key]
                label = key.removeprefix("rewards/").removesuffix("/mean")
                ax.plot(
                    xs, ys, marker="o", ms=3, label="total (weighted)" if key == "reward" else label
                )
        if not any(k in series for k in keys):
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(name)
        ax.set_xlabel("step")
        if len(keys) > 1 and any(k in series for k in keys):
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
