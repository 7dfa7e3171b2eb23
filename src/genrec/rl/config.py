"""``trl.GRPOConfig`` from the RL parameters."""

from __future__ import annotations

from pathlib import Path

from genrec.rl.params import RlParams


def grpo_config(params: RlParams, checkpoint_dir: str | Path, device: str):
    """``trl.GRPOConfig`` for ``params`` (G candidates per prompt stay on one device:
    :class:`~genrec.rl.params.RlParams` checks the batch is a multiple of G)."""
    import torch
    from trl import GRPOConfig

    g = params.num_generations
    seed = params.seed
    bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    return GRPOConfig(
        output_dir=str(checkpoint_dir),
        num_generations=g,
        per_device_train_batch_size=params.per_device_batch_size,
        gradient_accumulation_steps=params.gradient_accumulation_steps,
        learning_rate=params.learning_rate,
        beta=params.beta,
        sync_ref_model=params.sync_ref_model,
        ref_model_sync_steps=params.ref_model_sync_steps,
        ref_model_mixup_alpha=params.ref_model_mixup_alpha,
        num_train_epochs=params.epochs,
        max_steps=params.max_steps if params.max_steps > 0 else -1,
        # trl divides the logits by this when scoring completions: beam search used none.
        temperature=params.temperature if params.rollout == "sample" else 1.0,
        # trl defaults to true; off: no recomputed forward pass in the backward
        gradient_checkpointing=params.gradient_checkpointing,
        logging_steps=params.logging_steps,
        save_steps=params.save_steps,
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
        # a length-grouped order is built by genrec.rl.dataset.length_grouped_order
        shuffle_dataset=not params.group_by_length,
    )
