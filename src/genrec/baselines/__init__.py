"""Non-generative baselines scored with the same split and metric code as the generative model.

- :mod:`genrec.baselines.popularity`: most-popular items from the train split.
- :mod:`genrec.baselines.sasrec`: SASRec (causal self-attention) trained with next-item
  cross-entropy over all items; its checkpoint doubles as the collaborative scorer
  (:class:`genrec.baselines.sasrec.SASRecScorer`) used as an RL reward.
"""
