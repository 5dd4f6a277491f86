"""PNG of the Pareto front: cost vs latency, coloured by predicted accuracy, with the chosen
plan and both baselines marked (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

from stratos.planner.search import Candidate, PlanResult


def plot_front(result: PlanResult, path: str | Path) -> Path:
    """Write the plot to ``path`` and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    feasible = [c for c in result.candidates if c.feasible]
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    ax.scatter([c.cost_usd for c in feasible], [c.latency_ms for c in feasible], s=6, c="lightgrey",
               label=f"feasible ({len(feasible)})", zorder=1)
    sc = ax.scatter([c.cost_usd for c in result.pareto], [c.latency_ms for c in result.pareto], s=18,
                    c=[c.accuracy for c in result.pareto], cmap="viridis", label=f"Pareto front ({len(result.pareto)})",
                    zorder=2)
    fig.colorbar(sc, ax=ax, label="predicted accuracy")

    def mark(c: Candidate, marker: str, color: str, label: str) -> None:
        ax.scatter([c.cost_usd], [c.latency_ms], s=160, marker=marker, facecolors="none", edgecolors=color,
                   linewidths=2, label=label, zorder=3)

    mark(result.chosen_candidate, "*", "red", f"chosen (score {result.chosen_score:.2f})")
    for name, marker, color in (("accuracy_first", "s", "tab:blue"), ("cost_first", "D", "tab:orange")):
        mark(result.baseline_candidates[name], marker, color, f"{name} (score {result.baseline_scores[name]:.2f})")
    costs = [c.cost_usd for c in feasible]
    if costs and min(costs) > 0 and max(costs) / min(costs) > 20:
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("total cost, USD (synthesis + training + serving horizon)")
    ax.set_ylabel("serving latency p50, ms")
    ax.set_title(f"stratos plan: {result.request.task_name} ({result.request.target})")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out
