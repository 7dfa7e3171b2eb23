"""RL-stage parameters (torch-free: built when Snakemake builds the DAG)."""

from __future__ import annotations

from dataclasses import dataclass

from genrec.params import Params, ParamsError, check_multiple


@dataclass(frozen=True)
class RewardWeights(Params):
    """``rl.rewards``: weight of each reward; a reward with weight 0 is not computed."""

    SECTION = "rl.rewards"
    rule: float
    ranking: float
    semantic: float
    cf: float


@dataclass(frozen=True)
class RlParams(Params):
    """``rl`` without ``enabled`` (which decides whether the rule runs, not how): GRPO
    (``beta``, the reference-model updates ``sync_ref_model`` / ``ref_model_sync_steps`` /
    ``ref_model_mixup_alpha``, ``learning_rate``, ``epochs`` / ``max_steps`` /
    ``max_train_minutes``, ``num_generations`` G,
    ``per_device_batch_size`` completions, ``gradient_accumulation_steps``, the
    ``group_by_length`` batch order, ``shared_prompt_scoring``, ``gradient_checkpointing``), rollouts
    (``rollout`` beam | sample, ``temperature``), prompts per task from the train split
    and how they are picked, reward weights, checkpoint / logging intervals, seed."""

    SECTION = "rl"
    beta: float
    sync_ref_model: bool
    ref_model_sync_steps: int
    ref_model_mixup_alpha: float
    learning_rate: float
    epochs: float
    max_steps: int
    max_train_minutes: float | None
    num_generations: int
    rollout: str
    temperature: float
    per_device_batch_size: int
    gradient_accumulation_steps: int
    group_by_length: bool
    shared_prompt_scoring: bool
    gradient_checkpointing: bool
    prompts: dict[str, int | None]
    prompt_selection: str
    rewards: RewardWeights
    save_steps: int
    logging_steps: int
    seed: int

    def __post_init__(self):
        check_multiple(
            "per_device_batch_size", self.per_device_batch_size,
            "rl.num_generations", self.num_generations,
            "every group of G candidates must stay on one device",
        )  # fmt: skip
        if self.shared_prompt_scoring and self.gradient_checkpointing:
            raise ParamsError(
                "gradient_checkpointing",
                "cannot be combined with shared_prompt_scoring (its prompt pass keeps a KV "
                "cache, which checkpointed layers drop); turn one of them off",
            )
        if self.sync_ref_model and self.beta == 0:
            raise ParamsError(
                "sync_ref_model", "needs beta > 0 (with beta 0 there is no reference model)"
            )
