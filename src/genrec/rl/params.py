"""RL-stage parameters (torch-free: built when Snakemake builds the DAG)."""

from __future__ import annotations

from dataclasses import dataclass

from genrec.params import Params, check_multiple


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
    (``beta``, ``learning_rate``, ``epochs`` / ``max_steps``, ``num_generations`` G,
    ``per_device_batch_size`` completions, ``gradient_accumulation_steps``), rollouts
    (``rollout`` beam | sample, ``temperature``), prompts per task from the train split
    and how they are picked, reward weights, checkpoint / logging intervals, seed."""

    SECTION = "rl"
    beta: float
    learning_rate: float
    epochs: float
    max_steps: int
    num_generations: int
    rollout: str
    temperature: float
    per_device_batch_size: int
    gradient_accumulation_steps: int
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
