"""The run report: ``report.json`` (metrics, decisions, sizes, times, cost) and ``curves.png``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_report(run_dir: str | Path, report: dict[str, Any]) -> Path:
    path = Path(run_dir) / "report.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str))
    tmp.replace(path)
    return path


def plot_curves(history: list[dict[str, Any]], path: str | Path) -> Path:
    """Training loss, validation loss and validation accuracy against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["loss"] for h in history], label="train loss", alpha=0.7)
    ev = [h for h in history if "val_loss" in h]
    ax.plot([h["step"] for h in ev], [h["val_loss"] for h in ev], "o-", label="val loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_yscale("log")
    acc = [h for h in ev if "val_accuracy" in h]
    if acc:
        ax2 = ax.twinx()
        ax2.plot([h["step"] for h in acc], [h["val_accuracy"] for h in acc], "s--", color="tab:green", label="val accuracy")
        ax2.set_ylabel("val exact accuracy")
        ax2.set_ylim(0, 1)
        ax2.legend(loc="center right")
    ax.legend(loc="upper right")
    ax.set_title("Stratos distillation")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
