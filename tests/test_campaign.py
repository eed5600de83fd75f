"""Campaigns: the file checked with file and line, dispersed engines drawn reproducibly, each run
replayable alone with `hil run`, the same rows from a process pool and from a Dask cluster
(LocalCluster, two worker processes), results as a partitioned Parquet dataset, and a report."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
from conftest import ROOT

from hil.campaign.spec import load_campaign
from hil.errors import ConfigError

SMOKE = ROOT / "configs" / "campaigns" / "lab_relight_smoke.toml"

pytestmark = pytest.mark.timeout(300)


def _write(tmp_path, text: str):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


GOOD = """[campaign]
name = "t"
seed = 1

[run]
sequences = ["lab_relight"]
stands = ["sim_lab"]
"""


@pytest.mark.parametrize("extra, line, message", [
    ('[dispersions]\nvalve_strok_s = { dist = "normal", sd = 0.01 }\n', 10, "not a dispersible parameter"),
    ('[dispersions]\nvalve_stroke_s = { dist = "gauss", sd = 0.01 }\n', 10, "must be one of normal, uniform"),
    ('[dispersions]\nvalve_stroke_s = { dist = "normal", sd = 0.01, rel_sd = 0.1 }\n', 10, "exactly one of sd"),
    ('[dispersions]\n"sensor_offset.pcc" = { dist = "normal", sd = 0.01 }\n', 10, "no channel 'pcc'"),
    ('[faults]\nlist = ["late_ignition:delay=0.1@3"]\n', 10, "without '@'"),
    ('[faults]\nlist = ["late_ignition:delay=soon"]\n', 10, "delay must be a number"),
    ('[faults]\nlist = ["pc_dropout"]\nphases = ["ignition"]\n', 11, "unknown phase 'ignition'"),
    ('[faults]\nnominal = false\n', 10, "no case to run"),
])
def test_a_bad_campaign_file_is_refused_with_file_and_line(tmp_path, extra, line, message) -> None:
    p = _write(tmp_path, GOOD + "\n" + extra)
    with pytest.raises(ConfigError) as exc:
        load_campaign(p)
    assert message in str(exc.value) and f"{p}:{line}" in str(exc.value)


def test_a_campaign_runs_only_simulated_stands(tmp_path) -> None:
    p = _write(tmp_path, GOOD.replace('stands = ["sim_lab"]', 'stands = ["labjack_t7"]'))
    with pytest.raises(ConfigError, match="not a simulated stand"):
        load_campaign(p)


def test_engines_are_drawn_reproducibly_from_the_seed_and_the_run_index(tmp_path) -> None:
    from hil.campaign.runs import plan

    c = load_campaign(_write(tmp_path, GOOD.replace("seed = 1", "seed = 1\nruns_per_case = 2000") + """
[dispersions]
valve_stroke_s = { dist = "normal", rel_sd = 0.1, clip = [0.1, 0.2] }
ignition_delay_s = { dist = "uniform", lo = 0.01, hi = 0.04 }
"""))
    a, b = plan(c, {}, None), plan(c, {}, None)
    assert [s.values for s in a] == [s.values for s in b] and len({s.seed for s in a}) == 2000
    stroke = np.array([s.values["valve_stroke_s"] for s in a])
    delay = np.array([s.values["ignition_delay_s"] for s in a])
    assert 0.1 <= stroke.min() and stroke.max() <= 0.2  # clipped
    assert np.median(stroke) == pytest.approx(0.15, rel=0.02)  # around the preset's 0.15 s
    assert np.std(stroke) == pytest.approx(0.015, rel=0.15)
    assert 0.01 <= delay.min() and delay.max() <= 0.04 and np.mean(delay) == pytest.approx(0.025, rel=0.05)


def test_hil_run_takes_one_engine_of_a_campaign(tmp_path, capsys) -> None:
    """--engine replaces plant parameters (a weak pump reads lower Pc at the same GG opening);
    a parameter that is not one is named; a real stand or a child simulator is refused."""
    from hil.cli import main

    def pc(*extra: str) -> float:
        out = tmp_path / f"r{len(list(tmp_path.iterdir()))}"
        assert main(["run", "tq12_hotfire_100", "--sim", "lockstep", "--quiet", "--out", str(out), *extra]) == 0
        return json.loads((out / "summary.json").read_text())["burns"][0]["pc_mean_mpa"]

    nominal, weak = pc(), pc("--engine", "pump_head_scale=0.95")
    assert weak < nominal - 0.02
    assert main(["run", "tq12_hotfire_100", "--sim", "lockstep", "--engine", "pump_heads=0.9", "--out",
                 str(tmp_path / "x")]) == 1
    assert "unknown engine parameter(s) pump_heads" in capsys.readouterr().err
    assert main(["run", "tq12_hotfire_100", "--sim", "tcp", "--engine", "pump_head_scale=0.9", "--out",
                 str(tmp_path / "y")]) == 1
    assert "need --sim lockstep" in capsys.readouterr().err


def test_pool_and_dask_give_the_same_rows_as_parquet_with_a_report(tmp_path) -> None:
    """The smoke campaign through a process pool and through a Dask LocalCluster with two
    worker processes: row for row the same; a run replayed alone with `hil run` gives its row's
    figures; the datasets are partitioned by campaign and sequence; the report is written."""
    import subprocess
    import sys

    import pyarrow.dataset as ds

    from hil.campaign.cli import run_campaign
    from hil.campaign.execute import read_results
    from hil.cli import main

    c = load_campaign(SMOKE)
    pool = run_campaign(c, tmp_path / "pool", workers=2, progress=False)
    # Dask in a process of its own, as a user runs it (its client keeps a thread for the process's life)
    r = subprocess.run([sys.executable, "-m", "hil.cli", "campaign", str(SMOKE), "--local-cluster", "2", "--quiet",
                        "--out", str(tmp_path / "dask")], capture_output=True, text=True, timeout=240)
    assert r.returncode in (0, 2), r.stderr[-2000:]
    dask = json.loads((tmp_path / "dask" / "campaign.json").read_text())
    assert pool["engine"].startswith("process pool") and dask["engine"].startswith("dask")
    assert "dask LocalCluster (2 workers)" in r.stdout
    rows = {k: read_results(tmp_path / k / "runs", c.name).to_pylist() for k in ("pool", "dask")}
    burns = {k: read_results(tmp_path / k / "burns", c.name).to_pylist() for k in ("pool", "dask")}

    def same(r: dict) -> dict:
        return {k: v for k, v in r.items() if k != "run_dir"}  # where a run was kept differs by --out

    assert len(rows["pool"]) == c.total_runs == 4 and [r["run"] for r in rows["pool"]] == [0, 1, 2, 3]
    assert [same(r) for r in rows["pool"]] == [same(r) for r in rows["dask"]]
    assert burns["pool"] == burns["dask"] and len(burns["pool"]) >= 2
    # partitioned by campaign and sequence, readable as one dataset
    assert (tmp_path / "pool" / "runs" / "campaign=lab_relight_smoke" / "sequence=lab_relight").is_dir()
    assert ds.dataset(tmp_path / "pool" / "runs", partitioning="hive").count_rows() == 4
    # each row: its engine, its figures; the runs that did not end as expected are kept
    r0 = rows["pool"][0]
    assert {"disp.valve_stroke_s", "disp.eta_cstar", "disp.sensor_offset.pc", "margin.pc_high"} <= set(r0)
    for r in rows["pool"]:
        assert bool(r["run_dir"]) == (not r["as_expected"])
        assert r["case"] == "nominal" or r["reaction_s"] is None or r["reaction_s"] >= 0
    # a run replayed alone gives the same figures
    target = rows["pool"][2]
    out = tmp_path / "replay"
    args = shlex.split(target["replay"])[1:] + ["--out", str(out), "--quiet"]
    assert main(args) == target["exit_code"]
    s = json.loads((out / "summary.json").read_text())
    assert s["outcome"] == target["outcome"] and s["firmware"]["peak_pc_mpa"] == target["peak_pc_mpa"]
    assert s["redline_margins"]["pc_high"]["margin"] == target["margin.pc_high"]
    page = (tmp_path / "pool" / "report.html").read_text()
    assert "Outcomes by fault and phase" in page and "data:image/png;base64" in page
    assert target["replay"].split()[0] == "hil" and "late_ignition" in page
    assert json.loads((tmp_path / "pool" / "campaign.json").read_text())["total_runs"] == 4


def _nominal_specs(n: int, keep_dir=None):
    import dataclasses

    from hil.campaign.runs import plan
    from hil.campaign.spec import FaultCase

    c = dataclasses.replace(load_campaign(SMOKE), cases=(FaultCase(),), runs_per_case=n, keep="all")
    return plan(c, {}, keep_dir)


def test_an_interrupted_campaign_cancels_the_runs_not_started(tmp_path) -> None:
    """Ctrl-C during a pool campaign: the runs in progress finish, the rest never start (the pool
    has handed at most its workers + 1 more to its call queue, which cannot be taken back)."""
    from hil.campaign.execute import Progress, run_local

    class Interrupt(Progress):
        def tick(self, row) -> None:
            raise KeyboardInterrupt

    specs = _nominal_specs(12, str(tmp_path / "kept"))
    with pytest.raises(KeyboardInterrupt):
        run_local(specs, 2, Interrupt(len(specs), None))
    ran = list((tmp_path / "kept").iterdir())
    assert 1 <= len(ran) <= 1 + 2 + 3  # the first, the two beside it, the three queued: not the other six


DASK_RETRY = """
import json, os, sys
from pathlib import Path
from distributed import Client
from hil.campaign.execute import local_cluster, run_dask
from hil.campaign.runs import run_one
import test_campaign

marker = Path(sys.argv[1])

def flaky(spec):
    if spec.index == 1 and not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(1)  # the worker process dies in the middle of this run
    return run_one(spec)

if __name__ == "__main__":
    specs = test_campaign._nominal_specs(3)
    with local_cluster(2) as cluster, Client(cluster) as client:
        rows = [r for r, _ in run_dask(specs, client, fn=flaky)]
        profiling = client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks)
    print(json.dumps(sorted(profiling.values())))
    print(json.dumps([[r["run"], r["outcome"], r["peak_pc_mpa"]] for r in rows]))
"""


def test_dask_reruns_a_run_whose_worker_died(tmp_path) -> None:
    """A worker killed in the middle of a run: Dask starts another and runs it again there; the
    campaign gets every row (the retry is Dask's, not ours). The cluster is the one `hil campaign
    --local-cluster` starts: its workers, the restarted one too, run without Dask's stack-sampling
    profiler (it cost lockstep runs ~10 % of their CPU)."""
    import os
    import subprocess
    import sys

    script = tmp_path / "retry.py"
    script.write_text(DASK_RETRY)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "died")], capture_output=True, text=True,
                       timeout=240, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "died").is_file()  # a worker did die mid-run
    from hil.campaign.execute import run_local

    here = [[row["run"], row["outcome"], row["peak_pc_mpa"]] for row, _ in run_local(_nominal_specs(3), 2)]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == here  # every run, the one rerun included
    assert json.loads(r.stdout.strip().splitlines()[-2]) == [False, False]  # no worker samples stacks
