"""RL stage: GRPO from the SFT policy with trie-constrained rollouts.

- :mod:`genrec.rl.dataset`: the prompt mixture, from the train split only;
- :mod:`genrec.rl.rewards`: rule / ranking / semantic / cf rewards (pure functions + trl adapters);
- :mod:`genrec.rl.rollout`: ``rollout_func`` giving G valid SIDs per prompt (beam or sampling);
- :mod:`genrec.rl.train`: :func:`genrec.rl.train.train_grpo`, the workflow entry point.
"""
