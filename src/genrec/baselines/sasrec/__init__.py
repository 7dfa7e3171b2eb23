"""SASRec (Kang & McAuley, 2018) in PyTorch: baseline and collaborative-filtering scorer.

- :mod:`.model`: :class:`SASRec`, its architecture :class:`SASRecConfig`, input padding
  (:func:`pad_histories`) and device choice (:func:`resolve_device`);
- :mod:`.score`: top-k prediction and :class:`SASRecScorer`, a trained checkpoint as a
  scorer (the collaborative reward for RL);
- :mod:`.train`: :func:`train_sasrec`, full-softmax next-item training with early stopping
  on valid NDCG;
- :mod:`.plot`: :func:`plot_curve`, the training curve PNG;
- :mod:`.stage`: :func:`train_and_evaluate`, the ``baseline_sasrec`` rule's entry point.
"""

from genrec.baselines.sasrec.model import SASRec, SASRecConfig, pad_histories, resolve_device
from genrec.baselines.sasrec.plot import plot_curve
from genrec.baselines.sasrec.score import SASRecScorer
from genrec.baselines.sasrec.stage import train_and_evaluate
from genrec.baselines.sasrec.train import train_sasrec

__all__ = [
    "SASRec",
    "SASRecConfig",
    "SASRecScorer",
    "pad_histories",
    "plot_curve",
    "resolve_device",
    "train_and_evaluate",
    "train_sasrec",
]
