"""PNG of the Pareto front: cost against latency and against training time, coloured by predicted
accuracy, titled by the clouds searched, with the chosen plan and both baselines marked (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

from stratos.planner.result import Candidate, PlanResult


def _panel(ax, result: PlanResult, y, ylabel: str):
    """Cost (x) against one other objective ``y(candidate)``: feasible, front, chosen, baselines."""
    feasible = [c for c in result.candidates if c.feasible]
    ax.scatter([c.cost_usd for c in feasible], [y(c) for c in feasible], s=6, c="lightgrey",
               label=f"feasible ({len(feasible)})", zorder=1)
    sc = ax.scatter([c.cost_usd for c in result.pareto], [y(c) for c in result.pareto], s=18,
                    c=[c.accuracy for c in result.pareto], cmap="viridis", label=f"Pareto front ({len(result.pareto)})",
                    zorder=2)

    def mark(c: Candidate, marker: str, color: str, label: str) -> None:
        ax.scatter([c.cost_usd], [y(c)], s=160, marker=marker, facecolors="none", edgecolors=color,
                   linewidths=2, label=label, zorder=3)

    mark(result.chosen_candidate, "*", "red", f"chosen (score {result.chosen_score:.2f})")
    for name, marker, color in (("accuracy_first", "s", "tab:blue"), ("cost_first", "D", "tab:orange")):
        mark(result.baseline_candidates[name], marker, color, f"{name} (score {result.baseline_scores[name]:.2f})")
    costs = [c.cost_usd for c in feasible]
    if costs and min(costs) > 0 and max(costs) / min(costs) > 20:
        ax.set_xscale("log")
    if all(y(c) > 0 for c in feasible):
        ax.set_yscale("log")
    ax.set_xlabel("total cost, USD (synthesis + training + serving horizon)")
    ax.set_ylabel(ylabel)
    return sc


def plot_front(result: PlanResult, path: str | Path) -> Path:
    """Write the plot to ``path`` (cost against latency, and against training time) and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), dpi=110)
    _panel(left, result, lambda c: c.latency_ms, "serving latency p50, ms")
    sc = _panel(right, result, lambda c: c.train_hours, "training time (synthesis + training), hours")
    fig.colorbar(sc, ax=right, label="predicted accuracy")
    left.legend(fontsize=8, loc="best")
    clouds = "+".join(result.request.search_clouds)
    fig.suptitle(f"stratos plan: {result.request.task_name} on {clouds} ({result.stats['feasible']} feasible options)")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out
