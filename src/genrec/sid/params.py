"""SID-stage parameters (torch-free: built when Snakemake builds the DAG).

:class:`SidParams` is what one ``build_sids`` / ``import_sids`` job needs: the
method, the shared ``sid.codebook_sizes`` and resolved ``sid.seed``, and the
method's own section as a typed ``options`` object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from genrec.params import Params
from genrec.schema import schema_defaults


@dataclass(frozen=True)
class KMeansOptions(Params):
    """``sid.rqkmeans``: faiss k-means iterations per level."""

    SECTION = "sid.rqkmeans"
    niter: int


@dataclass(frozen=True)
class BalancedKMeansOptions(KMeansOptions):
    """``sid.rqkmeans_balanced``: plus the balanced-assignment backend."""

    SECTION = "sid.rqkmeans_balanced"
    backend: str


@dataclass(frozen=True)
class QuantiserTraining(Params):
    """What RQ-VAE and RQ-KMeans+ share: the MLP, optimiser, commitment ``beta``,
    Sinkhorn balancing of the last level, held-out share and evaluation interval."""

    hidden_dims: tuple[int, ...]
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    beta: float
    sinkhorn_epsilon: float
    sinkhorn_iters: int
    holdout_frac: float
    eval_every: int


@dataclass(frozen=True)
class RQVAEOptions(QuantiserTraining):
    """``sid.rqvae``: plus the latent size and k-means initialisation of the codebooks."""

    SECTION = "sid.rqvae"
    latent_dim: int
    kmeans_init: bool


@dataclass(frozen=True)
class RQKMeansPlusOptions(QuantiserTraining):
    """``sid.rqkmeans_plus``: residual MLP in the input space, warm-started from the
    ``rqkmeans_balanced`` codebooks."""

    SECTION = "sid.rqkmeans_plus"


@dataclass(frozen=True)
class ImportOptions(Params):
    """``sid.import``: how the MiniOneRec ``index.json`` keys map to items (the file
    itself is a rule input)."""

    SECTION = "sid.import"
    keys: str | None
    id_map: str | None


OPTIONS: dict[str, type[Params]] = {
    "rqkmeans": KMeansOptions,
    "rqkmeans_balanced": BalancedKMeansOptions,
    "rqvae": RQVAEOptions,
    "rqkmeans_plus": RQKMeansPlusOptions,
    "import": ImportOptions,
}


@dataclass(frozen=True)
class SidParams(Params):
    """One SID method's job: ``method``, ``codebook_sizes``, ``seed``, ``options``."""

    SECTION = "sid"
    method: str
    codebook_sizes: tuple[int, ...]
    seed: int
    options: Any

    def __post_init__(self):
        if self.method not in OPTIONS:
            raise ValueError(
                f"unknown SID method {self.method!r} (choose from {', '.join(OPTIONS)})"
            )
        cls = OPTIONS[self.method]
        if not isinstance(self.options, cls):
            object.__setattr__(self, "options", cls.from_section(self.options))

    @classmethod
    def from_config(cls, config: Mapping, method: str) -> SidParams:
        sid = config["sid"]
        return cls.from_section(sid, method=method, options=sid[method])

    @classmethod
    def defaults(cls, method: str = "rqkmeans", **overrides: Any) -> SidParams:  # type: ignore[override]
        return cls.from_config({"sid": schema_defaults("sid", **overrides)}, method)
