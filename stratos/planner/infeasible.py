"""Why a request cannot be planned, in one line that names the key, the value and the fix.

Each reason has its own message: a name the catalog or zoo does not know (the key and the
valid names), a GPU the catalog has but not in the allowed regions ("not offered in
<region>"), teacher-student pairs the size-ratio rule rejects, and constraints no option
meets (each binding constraint with the best value any option reaches and how far to
relax it). The first line of every message is the whole error; an infeasible request
adds the nearest options on the lines after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from stratos.catalog.accelerators import AcceleratorRequest
from stratos.catalog.offering import Offering
from stratos.exceptions import InfeasibleError, UnknownNameError
from stratos.names import did_you_mean
from stratos.planner.constraints import CONSTRAINTS
from stratos.planner.matching import MIN_RATIO, size_ratio
from stratos.zoo.registry import ModelSpec


def check_name(key: str, kind: str, name: str, valid: Iterable[str]) -> None:
    """Raise ``UnknownNameError`` naming ``key`` and the valid names when ``name`` is not one of them."""
    names = sorted(set(valid))
    if name not in names:
        raise UnknownNameError(
            f"{key}: unknown {kind} {name!r}{did_you_mean(name, names)}; valid {kind}s here: {', '.join(names)}. "
            f"Fix: use one of them in `{key}`, or drop `{key}` to let the planner choose."
        )


def check_gpus(wanted: list[AcceleratorRequest], offered: list[Offering], everywhere: list[Offering],
               regions: list[str] | None, edge: list[Offering]) -> None:
    """Every requested GPU (any case) must be offered where the request allows: an unknown name
    names the key; a GPU offered elsewhere says where; one offered only in Local Zones says
    ``edge_zones``; a count no instance has says which counts there are."""
    here = {o.accelerator for o in offered if o.accelerator}
    for w in wanted:
        g = w.name
        if g.lower() in {h.lower() for h in here}:
            counts = sorted({o.accelerator_count for o in offered if w.admits(o.accelerator, o.accelerator_count)})
            if not counts:
                have = sorted({o.accelerator_count for o in offered if (o.accelerator or "").lower() == g.lower()})
                raise InfeasibleError(
                    f"gpus: no offering{' in ' + ', '.join(regions) if regions else ''} has {g}:{w.count} "
                    f"(instances carry {', '.join(map(str, have))}). Fix: use one of those counts, or drop the "
                    "count; `stratos gpus` lists them."
                )
            continue
        elsewhere = sorted({o.region for o in everywhere if (o.accelerator or "").lower() == g.lower() and o.region})
        if regions and elsewhere:
            raise UnknownNameError(
                f"gpus: {g!r} is not offered in {', '.join(regions)} (offered in: {', '.join(elsewhere)}). "
                f"Fix: add one of those to `regions`, or choose a GPU offered there: {', '.join(sorted(here))}."
            )
        if any((o.accelerator or "").lower() == g.lower() for o in edge):
            raise UnknownNameError(
                f"gpus: {g!r} is offered only in Local/Wavelength Zones here. Fix: set `edge_zones: true`, "
                f"or choose another GPU: {', '.join(sorted(here))}."
            )
        check_name("gpus", "GPU", g, here)


def no_pairs(rejected: list[tuple[ModelSpec, ModelSpec]]) -> InfeasibleError:
    """Every teacher-student pair failed the size-ratio rule (or was the same model)."""
    same = [(t, s) for t, s in rejected if t.id == s.id]
    if same and len(same) == len(rejected):
        t = same[0][0]
        return InfeasibleError(
            f"teacher and student are both {t.id!r}: a model cannot teach itself. "
            "Fix: choose a different `teacher` or `student`."
        )
    shown = [(t, s) for t, s in rejected if t.id != s.id][:3]
    pairs = "; ".join(
        f"teacher {t.id!r} ({t.params_b:.3g}B params) vs student {s.id!r} ({s.params_b:.3g}B), ratio "
        f"{size_ratio(t, s):.2g}" for t, s in shown
    )
    return InfeasibleError(
        f"the size-ratio rule rejects every teacher-student pair: a teacher needs at least {MIN_RATIO:g}x the "
        f"student's parameters ({pairs}). Fix: choose a larger `teacher` or a smaller `student`."
    )


def no_memory(n_pairs: int) -> InfeasibleError:
    return InfeasibleError(
        f"no offering fits the memory of any of the {n_pairs} teacher-student pairs that passed the matching "
        "rules. Fix: allow larger GPUs (`gpus`, `clouds`) or choose a smaller `student`."
    )


def unsatisfiable(constraints: Any, cands: list[Any]) -> InfeasibleError:
    """No candidate meets every constraint: the binding ones (no option meets them alone), each
    with its value, the best reachable value and the fix; then the three nearest options."""
    binding, fixes = [], []
    for k in CONSTRAINTS:
        bound = k.bound(constraints)
        if bound is None:
            continue
        values = [getattr(x, k.objective) for x in cands]
        best = min(values) if k.upper else max(values)
        if k.violated(np.array([best]), constraints)[0]:
            binding.append(f"constraints.{k.key}={bound:g} (best any option reaches: {best:.4g})")
            fixes.append(k.fix(best))

    def shortfall(x: Any) -> float:
        return sum(k.shortfall(getattr(x, k.objective), constraints) for k in CONSTRAINTS)

    nearest = sorted(cands, key=shortfall)[:3]
    lines = [
        f"- {x.student} from {x.teacher} ({x.mode}), train {x.train.label}, serve {x.serve.label}: "
        f"${x.cost_usd:.2f}, {x.latency_ms:.0f} ms, acc {x.accuracy:.1%}, {x.train_hours:.2f} h; violates "
        + "; ".join(x.violations)
        for x in nearest
    ]
    if binding:
        head = (f"no plan satisfies the request ({len(cands)} options evaluated): " + "; ".join(binding)
                + ". Fix: " + "; ".join(fixes) + ".")
    else:
        head = (f"no plan satisfies the request ({len(cands)} options evaluated): each constraint alone can be met, "
                "but not all together. Fix: relax one of the constraints the nearest options below violate.")
    return InfeasibleError(head + "\nNearest options:\n" + "\n".join(lines))
