"""SASRec training curve plot for the report."""

from __future__ import annotations

from pathlib import Path

from genrec.io import atomic_path


def plot_curve(curve: list[dict], out_png: str | Path) -> None:
    """Plot train loss and valid NDCG per epoch (two panels) to ``out_png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in curve]
    ndcg_key = next(key for key in curve[0] if key.startswith("valid_NDCG@"))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(epochs, [r["train_loss"] for r in curve], marker="o")
    ax1.set(xlabel="epoch", ylabel="train cross-entropy", title="SASRec train loss")
    ax2.plot(epochs, [r[ndcg_key] for r in curve], marker="o", color="C1")
    ax2.set(xlabel="epoch", ylabel=ndcg_key, title="SASRec validation")
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
