"""Catalog: offerings through sky.catalog from a fixture tree, offline; GPU table; this machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stratos.catalog import (
    gpu_spec,
    gpu_specs,
    load_cloud_offerings,
    local_offering,
    local_profile,
    sky_catalog,
)
from stratos.exceptions import CatalogError, UnknownNameError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "catalog"

# Every accelerator name in the shared SkyPilot v8 snapshot (its common/accelerators.csv plus
# the two names AWS rows use that it lacks): the spec table must cover them all.
SNAPSHOT_ACCELERATORS = [
    "A10", "A100", "A100-80GB", "A10G", "A6000", "B200", "B300", "GH200", "H100", "H100-MEGA", "H200",
    "H200-SXM", "L4", "L40S", "P100", "P4", "RTX PRO Server 6000", "RTX6000", "T4", "T4g", "V100", "V100-32GB",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        d = tmp_path_factory.mktemp("stratos-cache")
        mp.setenv("STRATOS_CACHE", str(d))
        yield d


@pytest.fixture(scope="module")
def offerings(cache):
    # Earlier tests in this process may have loaded the fixture under another cache dir.
    sky_catalog._offerings.cache_clear()
    return load_cloud_offerings(FIXTURE)


def test_offerings_come_from_sky_catalog_with_prices_and_shapes(offerings):
    by = {(o.cloud, o.region, o.instance_type, o.spot): o for o in offerings}
    g6 = by[("aws", "us-east-1", "g6.xlarge", False)]
    assert (g6.accelerator, g6.accelerator_count, g6.vcpus, g6.memory_gb, g6.price_per_hour) == ("L4", 1, 4, 16, 0.8)
    # spot: one offering per zone at that zone's price (SkyPilot's listing has only the cheapest)
    spot = {o.zone: o.price_per_hour for o in offerings if o.instance_type == "g6.xlarge" and o.spot}
    assert spot == {"use1-az1": 0.30, "use1-az2": 0.35}
    # no spot price in the catalog -> no spot offering
    assert ("aws", "us-west-2", "p5.48xlarge", True) not in by
    # CPU-only rows are not GPU offerings
    assert not any(o.instance_type == "m6i.large" for o in offerings)
    # GCP: the host VM and the attached GPU priced together
    a2 = by[("gcp", "us-central1", "a2-highgpu-1g", False)]
    assert a2.accelerator == "A100" and a2.price_per_hour == pytest.approx(2.8)
    assert g6.zone == "use1-az1" and a2.zone == "us-central1-a"


def test_no_download_and_cached_rows(cache, offerings):
    runtime = next((cache / "sky-runtime").iterdir())
    assert not (runtime / ".sky" / "catalogs" / "v8" / ".meta").exists(), "SkyPilot must not fetch anything"
    cached = list((cache / "catalog").glob("*.json"))
    assert cached and json.loads(cached[0].read_text())
    sky_catalog._offerings.cache_clear()
    calls = []
    orig = sky_catalog.subprocess.run
    sky_catalog.subprocess.run = lambda *a, **k: calls.append(a) or orig(*a, **k)
    try:
        again = load_cloud_offerings(FIXTURE)
    finally:
        sky_catalog.subprocess.run = orig
    assert calls == [] and len(again) == len(offerings)


def test_cloud_filter_and_missing_cloud(cache):
    assert {o.cloud for o in load_cloud_offerings(FIXTURE, ["gcp"])} == {"gcp"}
    with pytest.raises(CatalogError, match="no vms.csv for lambda") as e:
        load_cloud_offerings(FIXTURE, ["aws", "lambda"])
    assert "it has: aws, gcp" in str(e.value)


def test_missing_catalog_says_how_to_provide_one(monkeypatch, tmp_path):
    monkeypatch.delenv("STRATOS_CATALOG_DIR", raising=False)
    monkeypatch.setenv("STRATOS_PROFILE", "offline")
    with pytest.raises(CatalogError) as e:
        load_cloud_offerings(None)
    assert "--catalog" in str(e.value) and "STRATOS_CATALOG_DIR" in str(e.value)
    with pytest.raises(CatalogError, match="holds no SkyPilot v8 catalog"):
        load_cloud_offerings(tmp_path)


def test_env_var_points_at_the_tree(cache, monkeypatch):
    monkeypatch.setenv("STRATOS_CATALOG_DIR", str(FIXTURE / "v8"))
    assert load_cloud_offerings(None, ["aws"])


def test_gpu_table_covers_the_snapshot_and_fixture_with_sources(offerings):
    specs = gpu_specs()
    for name in SNAPSHOT_ACCELERATORS + sorted({o.accelerator for o in offerings}):
        s = specs[name]
        assert s.memory_gb > 0 and s.bf16_tflops > 0 and s.bandwidth_gbps > 0 and len(s.source) > 20
    assert gpu_spec("H100").bf16_tflops == 989 and gpu_spec("H100").memory_gb == 80
    with pytest.raises(UnknownNameError, match="known: .*H100"):
        gpu_spec("X9000")


def test_local_machine_is_measured_once_and_priced(cache):
    prof = local_profile()
    assert prof["vcpus"] >= 1 and prof["memory_gb"] > 0 and prof["gflops"] > 0 and prof["bandwidth_gbps"] > 0
    assert local_profile() == prof  # cached file, not a re-measurement
    assert list(cache.glob("local-machine-*.json"))
    off = local_offering(0.5, prof)
    assert off.cloud == "local" and off.accelerator is None and off.gflops == prof["gflops"]
    assert off.cost(2.0) == 1.0 and local_offering(profile=prof).price_per_hour == 0


def test_a_profile_cached_without_read_rates_is_measured_again(cache, monkeypatch):
    """Read rates price every CPU decode step: a profile cached before them is re-measured, not
    patched with a guess, and the new one is what the next plan reads."""
    from stratos.catalog import local

    local.profile_path().parent.mkdir(parents=True, exist_ok=True)
    local.profile_path().write_text(json.dumps({"vcpus": 2.0, "memory_gb": 8.0, "gflops": 50.0, "bandwidth_gbps": 9.0}))
    monkeypatch.setattr(local, "measure", lambda: {"gflops": 60.0, "bandwidth_gbps": 9.5, "read_gbps": [9, 8, 7, 6]})
    prof = local_profile()
    assert prof["gflops"] == 60.0 and prof["read_gbps"] == [9, 8, 7, 6]
    assert json.loads(local.profile_path().read_text()) == prof
    assert local_offering(profile=prof).read_gbps == (9, 8, 7, 6)


def test_one_core_reads_a_small_buffer_at_least_as_fast_as_a_large_one():
    """The read rate is measured per size; a buffer far past every cache reads no faster than
    one a core's cache holds (the ordering the planner's decode roof rests on)."""
    from stratos.catalog.local import read_gbps

    small, large = max(read_gbps(0.25) for _ in range(3)), read_gbps(512, seconds=0.1)
    assert small > 0 and large > 0 and small >= 0.8 * large


def test_the_machine_is_measured_on_one_core_in_a_fresh_single_threaded_interpreter(monkeypatch):
    """A multi-threaded BLAS timed beside other work stalls on its descheduled partner thread
    (11-19 instead of ~225 GFLOP/s on the 2-core host): the matmul runs on one core, timed by
    that thread's CPU time, and is scaled by the core count."""
    import subprocess

    from stratos.catalog import local

    real_run, seen = subprocess.run, {}

    def run(cmd, **kw):
        out = real_run(cmd, **kw)
        seen.update(cmd=cmd, env=kw["env"], core=json.loads(out.stdout))
        return out

    monkeypatch.setattr(local.subprocess, "run", run)
    monkeypatch.setattr(local.os, "cpu_count", lambda: 3)
    got = local.measure(n=128, bw_mb=4, repeats=3)
    assert seen["cmd"][0] == local.sys.executable and "one_core(128, 4, 3)" in seen["cmd"][-1]
    assert all(seen["env"][v] == "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"))
    assert seen["core"]["gflops"] > 0 and got["gflops"] == pytest.approx(3 * seen["core"]["gflops"], abs=0.01)
    assert got["bandwidth_gbps"] == seen["core"]["bandwidth_gbps"] > 0
    assert len(got["read_gbps"]) == len(local.READ_SIZES_MIB) and min(got["read_gbps"]) > 0


@pytest.fixture
def catalog_mirror(tmp_path):
    """A local HTTP server laid out like SkyPilot's hosted catalog (``<url>/v8/<cloud>/vms.csv``)."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(FIXTURE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_online_without_a_catalog_dir_uses_skypilots_own_fetch_and_cache(cache, monkeypatch, tmp_path, catalog_mirror):
    monkeypatch.delenv("STRATOS_CATALOG_DIR", raising=False)
    monkeypatch.setenv("STRATOS_PROFILE", "online")
    monkeypatch.setenv("STRATOS_CATALOG_URL", catalog_mirror)
    monkeypatch.setenv("SKY_RUNTIME_DIR", str(tmp_path / "sky"))
    offs = load_cloud_offerings(None, ["aws"])
    fetched = tmp_path / "sky" / ".sky" / "catalogs" / "v8" / "aws" / "vms.csv"
    assert fetched.read_bytes() == (FIXTURE / "v8" / "aws" / "vms.csv").read_bytes()
    assert offs and {o.cloud for o in offs} == {"aws"}
    assert (tmp_path / "sky" / ".sky" / "catalogs" / "v8" / ".meta" / "aws" / "vms.csv.md5").is_file()


def test_online_fetch_failure_is_one_clear_line(cache, monkeypatch, tmp_path):
    monkeypatch.delenv("STRATOS_CATALOG_DIR", raising=False)
    monkeypatch.setenv("STRATOS_PROFILE", "online")
    monkeypatch.setenv("STRATOS_CATALOG_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.setenv("SKY_RUNTIME_DIR", str(tmp_path / "sky"))
    with pytest.raises(CatalogError, match="SkyPilot could not fetch its catalog for aws") as e:
        load_cloud_offerings(None, ["aws"])
    assert "STRATOS_CATALOG_DIR" in str(e.value) and "\n" not in str(e.value)
