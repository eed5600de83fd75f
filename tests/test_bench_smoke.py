"""`hil bench --quick` runs end to end and writes valid JSON (no timing is asserted: speed
goals live in the benchmark's own output, not in tests)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.timeout(400)


@pytest.mark.slow
def test_hil_bench_quick_writes_json(tmp_path) -> None:
    out = tmp_path / "suite.json"
    r = subprocess.run([sys.executable, "-m", "hil.cli", "bench", "--quick", "--json", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=380,
                       env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    data = json.loads(out.read_text())
    res = data["results"]
    for key in ("tcp", "gui_loop", "cpu_hog", "rtu", "reaction_lockstep", "reaction_tcp", "watchdog", "sim", "lockstep",
                "gui_frames", "recorder", "scaling_channels", "scaling_rate", "baselines", "server_floor", "console_cpu",
                "cpu_hogs_2_rt", "burning"):
        assert key in res, key
    assert data["machine"]["cpus"] >= 1 and res["tcp"]["cycles"] > 0
    assert "1. loop over Modbus TCP" in r.stdout and "baselines" in r.stdout and "lean floor" in r.stdout
    assert res["burning"]["work_p50_us"] > 0 and res["console_cpu"]["running"]["fps"] > 0


@pytest.mark.slow
def test_campaign_bench_measures_both_engines_and_the_runs_cpu(tmp_path) -> None:
    """The campaign benchmark on two runs of the smoke campaign: every engine measured, the
    runs' own CPU reported beside the rates (figures, not targets, are what a smoke test checks)."""
    out = tmp_path / "campaign.json"
    r = subprocess.run([sys.executable, "-m", "hil.bench.campaign_bench", "--campaign",
                        str(ROOT / "configs" / "campaigns" / "lab_relight_smoke.toml"), "--runs", "2", "--rounds", "1",
                        "--json", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["runs"] == 2 and set(data["runs_per_s"]) == {"pool_1", "pool_2", "dask_2"}
    assert all(v > 0 for v in data["runs_per_s"].values()) and all(v > 0 for v in data["cpu_s_of_the_runs"].values())
    assert "Dask overhead vs the pool" in r.stdout and "CPU of the runs themselves" in r.stdout


def test_lockstep_speed_bench_gives_the_ratio_to_its_calibration(tmp_path) -> None:
    """The lockstep speed benchmark (issue 26) on one short run: the run's x real time, the
    calibration loop measured beside it and their ratio, in the printout and the JSON."""
    out = tmp_path / "ls.json"
    r = subprocess.run([sys.executable, "-m", "hil.bench.lockstep_speed", "--rounds", "1", "--sequence",
                        "tq12_abort_demo", "--json", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    data = json.loads(out.read_text())
    (tree, med), = data["medians"].items()
    (run,) = data["runs"][tree]
    assert run["outcome"] == "aborted" and run["stand_s"] > 10 and len(run["data_sha256"]) == 64
    assert med["calibration_mops"] > 0 and med["x_realtime"] == run["x_realtime"] > 0
    assert med["x_per_cal"] == run["x_realtime"] / run["calibration_mops"]
    assert "x / cal" in r.stdout and "target >= 20x" in r.stdout


@pytest.mark.slow
def test_native_trial_compiles_measures_and_compares_the_recordings(tmp_path) -> None:
    """The compiled-core trial (issue 26) on one module and one short run: the module really
    loads compiled in the measured tree, both trees record the same run byte for byte, and the
    ratio is printed beside its calibration (a figure, not a target, is what a smoke test checks)."""
    out = tmp_path / "native.json"
    r = subprocess.run([sys.executable, "-m", "hil.bench.native_trial", "--rounds", "1", "--modules",
                        "firmware_sim/engine.py", "--sequence", "tq12_abort_demo", "--json", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["build"]["modules"] == ["firmware_sim/engine.py"]
    assert any(e.startswith("firmware_sim/engine.") and e.endswith(".so") for e in data["build"]["extensions"])
    assert data["identical_recordings"] is True and data["outcomes"] == ["aborted"]
    assert data["speedup_x_realtime"] > 0 and all(m["calibration_mops"] > 0 for m in data["medians"].values())
    assert "1 of 1 modules load compiled" in r.stdout and "recordings: identical" in r.stdout
    assert "target >= 20x real time" in r.stdout


def test_the_native_trial_names_every_fault_matrix_cell_that_ended_otherwise() -> None:
    """A compiled tree whose fault matrix ends one cell differently (here: the reason) or runs
    another number of cells is named cell by cell, which fails the trial."""
    from hil.bench.native_trial import cells_differing

    cell = {"fault": "Pc sensor frozen", "phase": "mainstage", "outcome": "aborted", "reason": "pc frozen",
            "reaction_s": 0.1, "passed": True}
    other = {**cell, "phase": "shutdown"}
    assert cells_differing([cell, other], [dict(cell), dict(other)]) == []
    assert cells_differing([cell, other], [cell, {**other, "reason": "timeout"}]) == ["Pc sensor frozen / shutdown"]
    assert cells_differing([cell, other], [cell]) == ["cell count 2 vs 1"]


def test_the_native_trial_census_lists_each_failing_test_with_why(tmp_path) -> None:
    """The census reads pytest's own JUnit report: a tree with one passing and one failing test
    gives two tests and names the failing one with the first line of its message."""
    from hil.bench.native_trial import census

    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_two.py").write_text(
        "def test_ok():\n    assert True\n\n\ndef test_bad():\n    assert 1 == 2, 'the compiled tree differs'\n")
    c = census(tmp_path)
    assert c["tests"] == 2 and list(c["failed"]) == ["tests/test_two.py::test_bad"]
    assert "the compiled tree differs" in c["failed"]["tests/test_two.py::test_bad"]
