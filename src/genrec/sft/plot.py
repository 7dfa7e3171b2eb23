"""Loss curve plot for the report."""

from __future__ import annotations

from pathlib import Path

from genrec.io import atomic_path


def plot_loss(curves: dict, path: str | Path, title: str = "SFT loss") -> None:
    """Train and validation loss against the optimizer step, as a PNG (atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    if curves["train"]:
        ax.plot(
            [e["step"] for e in curves["train"]],
            [e["loss"] for e in curves["train"]],
            label="train",
        )
    if curves["valid"]:
        ax.plot(
            [e["step"] for e in curves["valid"]],
            [e["loss"] for e in curves["valid"]],
            marker="o",
            label="validation",
        )
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (response tokens)")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
