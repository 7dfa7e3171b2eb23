"""``trl.GRPOConfig`` from the ``rl`` config slice."""

from __future__ import annotations

from pathlib import Path


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
