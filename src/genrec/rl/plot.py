"""GRPO training curves (reward, per-reward, KL, loss) for the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genrec.io import atomic_path


def curve_series(history: list[dict]) -> dict[str, tuple[list[int], list[float]]]:
    """Per logged metric (reward, rewards/<name>/mean, kl, loss) its (steps, values)."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for entry in history:
        step = entry.get("step")
        if step is None:
            continue
        for key, value in entry.items():
            keep = key in ("reward", "kl", "loss") or (
                key.startswith("rewards/") and key.endswith("/mean")
            )
            if keep and isinstance(value, int | float) and np.isfinite(value):
                xs, ys = out.setdefault(key, ([], []))
                xs.append(int(step))
                ys.append(float(value))
    return out


def plot_curves(history: list[dict], out_png: str | Path, title: str = "GRPO") -> None:
    """Reward (total and per reward), KL and loss against the training step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = curve_series(history)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    panels = (
        ("reward", [k for k in series if k == "reward" or k.startswith("rewards/")]),
        ("KL to the SFT model", ["kl"]),
        ("loss", ["loss"]),
    )
    for ax, (name, keys) in zip(axes, panels, strict=True):
        for key in keys:
            if key in series:
                xs, ys = series[key]
                label = key.removeprefix("rewards/").removesuffix("/mean")
                ax.plot(
                    xs, ys, marker="o", ms=3, label="total (weighted)" if key == "reward" else label
                )
        if not any(k in series for k in keys):
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(name)
        ax.set_xlabel("step")
        if len(keys) > 1 and any(k in series for k in keys):
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
