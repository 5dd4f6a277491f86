"""Helper for planner_bench.py: time SkyPilot's own optimizer on a catalog tree, offline.

Run as ``SKY_RUNTIME_DIR=<dir with .sky/catalogs/v8> python benchmarks/planner_sky_optimizer.py``;
prints one JSON line. SkyPilot's optimizer only reads the price catalog, but it first asks
``sky.check`` which clouds have credentials; there are none here, so the check is replaced
by a fixed list of the four clouds in the snapshot (nothing else is patched, and nothing
is fetched: every cloud asked about has a vms.csv in the tree).

The request: one task needing 1 GPU of any type in the catalog, minimise cost
(``OptimizeTarget.COST``), i.e. the single-objective cheapest-GPU question.
"""

from __future__ import annotations

import json
import sys
import time

t0 = time.perf_counter()
import sky  # noqa: E402
from sky import check as sky_check  # noqa: E402
from sky import clouds  # noqa: E402
from sky.optimizer import Optimizer  # noqa: E402
from sky.utils import common  # noqa: E402

ENABLED = [clouds.AWS(), clouds.GCP(), clouds.Lambda(), clouds.RunPod()]
sky_check.get_cached_enabled_clouds_or_refresh = lambda *a, **k: ENABLED
sky_check.check_capability = lambda *a, **k: None
t_import = time.perf_counter() - t0


def run(accelerators: list[str]) -> tuple[float, str]:
    with sky.Dag() as dag:
        task = sky.Task(name="train", run="true")
        task.set_resources({sky.Resources(accelerators={a: 1}) for a in accelerators})
        task.set_time_estimator(lambda _: 3600.0)
    t = time.perf_counter()
    Optimizer.optimize(dag, minimize=common.OptimizeTarget.COST, quiet=True)
    return time.perf_counter() - t, str(task.best_resources)


if __name__ == "__main__":
    import sky.catalog

    accs = sorted(k for k, v in sky.catalog.list_accelerator_counts(
        gpus_only=True, clouds=["aws", "gcp", "lambda", "runpod"]).items() if 1 in v)
    cold, best = run(accs)
    warm, _ = run(accs)
    print(json.dumps({"import_s": t_import, "cold_s": cold, "warm_s": warm, "best": best, "accelerators": accs}))
    sys.stdout.flush()
