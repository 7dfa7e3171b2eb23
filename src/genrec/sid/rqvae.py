"""RQ-VAE (and its RQ-Kmeans+ variant) in torch.

``RQVAE``: MLP encoder -> L residual codebooks -> MLP decoder, trained with
reconstruction + codebook + beta * commitment loss, codebooks initialised by
k-means on the first encoded residuals, optional Sinkhorn-balanced assignment
on the last level. With ``residual=True`` the encoder is ``Z = X + MLP(X)`` and
the decoder ``X' = Q + MLP(Q)`` with zero-initialised last layers, so training
starts exactly at the given (e.g. balanced RQ-Kmeans) codebooks: RQ-Kmeans+.

The kept model is the one with the lowest ``collision rate over all items +
held-out reconstruction MSE / data mean square`` (both fractions), checked
every ``eval_every`` epochs on items held out from training.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from genrec.sid.collisions import collision_rate
from genrec.sid.kmeans import faiss_kmeans, nearest
from genrec.sid.params import QuantiserTraining

log = logging.getLogger(__name__)


def _mlp(dims: Sequence[int], zero_last: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    if zero_last:
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)


def sinkhorn_codes(dist: torch.Tensor, epsilon: float, iters: int) -> torch.Tensor:
    """Balanced hard assignment from distances ``(B, K)`` via log-domain Sinkhorn."""
    d = dist.double()
    d = (d - d.mean()) / (d.max() - d.min()).clamp(min=1e-12)
    logq = -d / epsilon
    b, k = logq.shape
    for _ in range(iters):
        logq = logq - torch.logsumexp(logq, dim=0, keepdim=True) - math.log(k)
        logq = logq - torch.logsumexp(logq, dim=1, keepdim=True) - math.log(b)
    return logq.argmax(1)


class RQVAE(nn.Module):
    def __init__(
        self,
        in_dim: int,
        sizes: Sequence[int],
        *,
        hidden_dims: Sequence[int],
        latent_dim: int | None,
        beta: float,
        sinkhorn_epsilon: float,
        sinkhorn_iters: int,
        residual: bool = False,
    ):
        """Hyperparameters come from the config (``sid.rqvae`` / ``sid.rqkmeans_plus``);
        ``latent_dim`` is ignored (= ``in_dim``) when ``residual``."""
        super().__init__()
        self.residual = residual
        self.beta = beta
        self.sinkhorn_epsilon = sinkhorn_epsilon
        self.sinkhorn_iters = sinkhorn_iters
        if residual:
            latent_dim = in_dim
        self.encoder = _mlp([in_dim, *hidden_dims, latent_dim], zero_last=residual)
        self.decoder = _mlp([latent_dim, *reversed(hidden_dims), in_dim], zero_last=residual)
        self.codebooks = nn.ParameterList(
            [nn.Parameter(torch.randn(k, latent_dim) * 0.1) for k in sizes]
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        return x + z if self.residual else z

    def decode(self, q: torch.Tensor) -> torch.Tensor:
        y = self.decoder(q)
        return q + y if self.residual else y

    def quantize(self, z: torch.Tensor, balanced_last: bool = True):
        """Residual quantisation; returns (z_q straight-through, codes, vq loss, last residual)."""
        residual = z
        q_sum = torch.zeros_like(z)
        codes, loss = [], z.new_zeros(())
        last_in = residual
        n_levels = len(self.codebooks)
        for level, cb in enumerate(self.codebooks):
            last_in = residual
            dist = torch.cdist(residual.detach(), cb.detach()).pow(2)
            if level == n_levels - 1 and balanced_last and self.sinkhorn_epsilon > 0:
                idx = sinkhorn_codes(dist, self.sinkhorn_epsilon, self.sinkhorn_iters)
            else:
                idx = dist.argmin(1)
            q = cb[idx]
            loss = loss + (q - residual.detach()).pow(2).mean()
            loss = loss + self.beta * (residual - q.detach()).pow(2).mean()
            q_sum = q_sum + q
            residual = residual - q.detach()
            codes.append(idx)
        z_q = z + (q_sum - z).detach()
        return z_q, torch.stack(codes, 1), loss, last_in

    def forward(self, x: torch.Tensor):
        z = self.encode(x)
        z_q, codes, vq_loss, _ = self.quantize(z)
        x_hat = self.decode(z_q)
        recon = (x_hat - x).pow(2).mean()
        return recon + vq_loss, recon, codes

    @torch.no_grad()
    def kmeans_init(self, x: torch.Tensor, seed: int) -> None:
        residual = self.encode(x).cpu().numpy()
        for level, cb in enumerate(self.codebooks):
            cent = faiss_kmeans(residual, cb.shape[0], niter=20, seed=seed + level)
            cb.copy_(torch.from_numpy(cent))
            residual = residual - cent[nearest(residual, cent)]

    @torch.no_grad()
    def infer(self, x: torch.Tensor, batch_size: int = 8192):
        """codes (n, L), last-level residual input, reconstruction of ``x`` (numpy)."""
        codes, last, recon = [], [], []
        for s in range(0, len(x), batch_size):
            xb = x[s : s + batch_size]
            z = self.encode(xb)
            z_q, c, _, last_in = self.quantize(z)
            codes.append(c.cpu())
            last.append(last_in.cpu())
            recon.append(self.decode(z_q).cpu())
        return (
            torch.cat(codes).numpy().astype(np.int64),
            torch.cat(last).float().numpy(),
            torch.cat(recon).float().numpy(),
        )


def train_rqvae(
    x: np.ndarray,
    sizes: Sequence[int],
    params: QuantiserTraining,
    seed: int,
    device: str = "cpu",
    residual: bool = False,
    init_codebooks: Sequence[np.ndarray] | None = None,
) -> dict:
    """Train an RQ-VAE on ``x`` and return codes and diagnostics of the best checkpoint.

    Inputs are centred and scaled to unit mean square for training. Returns
    ``codes``, ``codebooks`` (numpy, latent space), ``last_residual``,
    ``reconstruction`` (decoder output, in the units of ``x``), ``history`` (per-epoch mean training
    loss) and ``best`` (epoch, collision rate, held-out reconstruction).

    ``params``: :class:`~genrec.sid.params.RQVAEOptions` (``sid.rqvae``), or
    :class:`~genrec.sid.params.RQKMeansPlusOptions` with ``residual=True``. ``latent_dim``
    and ``kmeans_init`` are read only without ``residual`` (``sid.rqkmeans_plus`` has
    neither: its latent space is the input space and it starts from ``init_codebooks``).
    """
    p = params
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n = len(x)
    # Train on centred inputs with unit mean square, so the reconstruction and
    # quantisation losses are on the same scale whatever the embedding norm
    # (L2-normalised 384-d embeddings have entries ~0.05, which otherwise lets the
    # encoder shrink the latents and collapse the codebooks).
    x = np.asarray(x, dtype=np.float32)
    center = x.mean(0)
    scale = float(np.sqrt(((x - center) ** 2).mean())) or 1.0
    xs = (x - center) / scale
    xt = torch.from_numpy(np.ascontiguousarray(xs, dtype=np.float32)).to(device)
    perm = rng.permutation(n)
    n_hold = int(round(p.holdout_frac * n)) if n >= 10 else 0
    hold_idx, train_idx = perm[:n_hold], perm[n_hold:]
    model = RQVAE(
        x.shape[1],
        sizes,
        hidden_dims=p.hidden_dims,
        latent_dim=None if residual else p.latent_dim,
        beta=p.beta,
        sinkhorn_epsilon=p.sinkhorn_epsilon,
        sinkhorn_iters=p.sinkhorn_iters,
        residual=residual,
    ).to(device)
    if init_codebooks is not None:
        if len(init_codebooks) != len(sizes):
            raise ValueError(
                f"warm-start codebooks have {len(init_codebooks)} levels, config has {len(sizes)}"
            )
        with torch.no_grad():
            for level, (cb, init) in enumerate(zip(model.codebooks, init_codebooks, strict=True)):
                if tuple(init.shape) != tuple(cb.shape):
                    raise ValueError(
                        f"warm-start codebook of level {level} has shape {tuple(init.shape)}, "
                        f"expected {tuple(cb.shape)}"
                    )
                init = np.asarray(init, dtype=np.float32)
                # level 0 holds points, deeper levels residuals: map both to the scaled space
                init = (init - center) / scale if level == 0 else init / scale
                cb.copy_(torch.from_numpy(init))
    elif residual:
        raise ValueError("RQ-Kmeans+ (residual=True) starts from init_codebooks; none given")
    elif p.kmeans_init:
        model.kmeans_init(xt[torch.from_numpy(train_idx).to(device)], seed)
    opt = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    train_t = torch.from_numpy(train_idx)
    history: list[float] = []
    best = None
    best_state = None

    def evaluate(epoch: int) -> None:
        nonlocal best, best_state
        model.eval()
        codes, _, recon = model.infer(xt)
        model.train()
        eval_rows = hold_idx if n_hold else train_idx
        hold_recon = float(((recon[eval_rows] - xs[eval_rows]) ** 2).mean())
        cr = collision_rate(codes)
        # Both terms are fractions: colliding items, and held-out variance not reconstructed.
        score = cr + hold_recon  # xs has unit mean square
        log.info("epoch %d: collision rate %.4f, held-out recon %.5f", epoch, cr, hold_recon)
        if best is None or score < best["score"]:
            best = {
                "epoch": epoch,
                "score": score,
                "collision_rate": cr,
                "heldout_recon": hold_recon,
            }
            best_state = copy.deepcopy(model.state_dict())

    model.train()
    evaluate(0)
    bs = max(1, min(p.batch_size, len(train_idx)))
    for epoch in tqdm(range(1, p.epochs + 1), desc="rq-vae", unit="epoch"):
        order = train_t[torch.randperm(len(train_t), generator=gen)]
        total, steps = 0.0, 0
        for s in range(0, len(order), bs):
            xb = xt[order[s : s + bs].to(device)]
            loss, _, _ = model(xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
            steps += 1
        history.append(total / max(steps, 1))
        if epoch % p.eval_every == 0 or epoch == p.epochs:
            evaluate(epoch)
    model.load_state_dict(best_state)
    model.eval()
    codes, last_res, recon = model.infer(xt)
    best["heldout_recon"] *= scale**2  # report it in the units of x
    return {
        "codes": codes,
        "codebooks": [cb.detach().cpu().numpy() for cb in model.codebooks],
        "last_residual": last_res,
        "reconstruction": recon * scale + center,
        "history": history,
        "best": best,
    }
