"""RL stage: GRPO from the SFT policy with trie-constrained rollouts.

- :mod:`genrec.rl.dataset`: the prompt mixture, from the train split only;
- :mod:`genrec.rl.rewards`: rule / ranking / semantic / cf rewards (pure functions + trl adapters);
- :mod:`genrec.rl.rollout`: ``rollout_func`` giving G valid SIDs per prompt (beam or sampling);
- :mod:`genrec.rl.trainer`: ``GRPOTrainer`` with right-aligned scoring and a divergence guard;
- :mod:`genrec.rl.config`: the ``trl.GRPOConfig`` from the ``rl`` config slice;
- :mod:`genrec.rl.resume`: fingerprint of a run, the checkpoint to resume from;
- :mod:`genrec.rl.outputs`: model, log history and curves (:mod:`genrec.rl.plot`);
- :mod:`genrec.rl.train`: :func:`genrec.rl.train.train_grpo`, the workflow entry point,
  the per-rank entry and the training loop.
"""
