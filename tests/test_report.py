"""Post-test review: metrics on synthetic traces with known answers, the report and the run
comparison on recorded simulator runs, and the exports others read (CSV, Parquet, TDMS)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pyarrow as pa
import pytest
from conftest import LAB, ROOT, TQ12

from hil.record.metrics import burn_metrics, smooth, throttle_steps
from hil.record.recorder import export, read_run
from hil.record.report import compare, export_tdms, report
from hil.runner import RunOptions, run
from hil.stand import load_stand

SEQ = ROOT / "configs" / "sequences"
pytestmark = pytest.mark.timeout(180)


def test_throttle_step_metrics_on_a_known_trace() -> None:
    """A first-order response with known settle time and overshoot."""
    dt = 1e-3
    t = np.arange(0, 6, dt)
    sp = np.where(t < 2.0, 10.0, 6.0)
    tau = 0.2
    pc = np.where(t < 2.0, 10.0, 6.0 + 4.0 * np.exp(-(t - 2.0) / tau))
    pc = pc + np.where((t > 3.0) & (t < 3.001), 0.0, 0.0)
    (first, second) = throttle_steps(t, pc, sp)
    assert first["pc_cmd_mpa"] == 10.0 and first["settle_s"] == 0.0
    # into ±2 % of 6 MPa: 4·e^(−t/τ) = 0.12 → t = τ·ln(33.3) = 0.701 s (25 ms averaging adds ~12 ms)
    assert second["settle_s"] == pytest.approx(0.2 * np.log(4.0 / 0.12), abs=0.02)
    assert second["overshoot_pct"] == pytest.approx(0.0, abs=0.01)  # monotonic approach from above
    assert abs(second["tracking_mean_pct"]) < 2.0
    # an overshooting (second-order) response: 10 % overshoot on a step up
    sp2 = np.where(t < 1.0, 5.0, 10.0)
    z, wn = 0.6, 12.0
    tt = np.clip(t - 1.0, 0, None)
    wd = wn * np.sqrt(1 - z**2)
    resp = 1 - np.exp(-z * wn * tt) * (np.cos(wd * tt) + z / np.sqrt(1 - z**2) * np.sin(wd * tt))
    pc2 = 5.0 + 5.0 * resp
    step = throttle_steps(t, pc2, sp2)[-1]
    expected_overshoot = 100 * 5.0 * np.exp(-np.pi * z / np.sqrt(1 - z**2)) / 10.0
    assert step["overshoot_pct"] == pytest.approx(expected_overshoot, rel=0.05)


def test_tracking_error_is_over_time_when_the_loop_skips_cycles() -> None:
    """A plateau held 1 % high for its first 2 s and 1 % low for its last 2 s tracks at 0 % mean,
    1 % RMS, whether the loop recorded every cycle or skipped three of four in the low half (a
    row mean then reads +0.5 %)."""
    t = np.arange(0, 4.5, 1e-3)
    sp = np.full(len(t), 8.0)
    pc = np.where(t < 0.5, 8.0, np.where(t < 2.5, 8.08, 7.92))
    every = throttle_steps(t, pc, sp, band=0.02)[0]
    keep = (t < 2.5) | (np.arange(len(t)) % 4 == 0)
    skipped = throttle_steps(t[keep], pc[keep], sp[keep], band=0.02)[0]
    for step in (every, skipped):
        assert step["settle_s"] == 0.0
        assert step["tracking_mean_pct"] == pytest.approx(0.0, abs=0.02)
        assert step["tracking_rms_pct"] == pytest.approx(100 * np.sqrt(4.0 / 4.5) * 0.01, abs=0.02)  # 1 % for 4 of 4.5 s


def test_smoothing_keeps_the_mean() -> None:
    x = np.random.default_rng(0).normal(5.0, 0.1, 1000)
    assert smooth(x, 25).mean() == pytest.approx(x.mean(), abs=1e-3)


def _synthetic_run(stand_path) -> pa.Table:
    """Two burns: known ignition delays, durations, O/F, impulse and wall temperature."""
    stand = load_stand(stand_path)
    dt = 1e-3
    t = np.arange(0, 20, dt)
    n = len(t)
    cols = {"time": t, "cycle": np.arange(n), "lateness_ms": np.zeros(n, np.float32), "state": ["RUNNING"] * n,
            "step": np.zeros(n, np.int32)}
    on = ((t >= 2) & (t < 7)) | ((t >= 10) & (t < 16))
    lit = ((t >= 2.05) & (t < 7)) | ((t >= 10.03) & (t < 16))
    for c in stand.channels:
        cols[c.name] = np.zeros(n)
    cols["pc"] = np.where(lit, 2.0, 0.1)
    cols["thrust"] = np.where(lit, 2.0, 0.0)  # kN
    cols["mdot_ox"] = np.where(lit, 0.6, 0.0)
    cols["mdot_fuel"] = np.where(lit, 0.2, 0.0)
    cols["wall_temp"] = 300 + 50 * t
    for a in stand.actuators:
        cols[f"cmd.{a.name}"] = np.where(on, 50.0 if a.propellant != "none" else 1.0, 0.0) if a.kind != "purge" else np.zeros(n)
    cols["pc_setpoint"] = np.where(lit, 2.0, np.nan)
    cols["throttle_output"] = np.full(n, np.nan)
    return pa.table(cols)


def test_burn_metrics_on_a_synthetic_run() -> None:
    stand = load_stand(LAB)
    b1, b2 = burn_metrics(_synthetic_run(LAB), stand)
    assert b1["ignition_delay_s"] == pytest.approx(0.05, abs=0.0015)
    assert b2["ignition_delay_s"] == pytest.approx(0.03, abs=0.0015)
    assert b1["duration_s"] == pytest.approx(7 - 2.05, abs=0.002)
    assert b2["duration_s"] == pytest.approx(16 - 10.03, abs=0.002)
    assert b1["of_mean"] == pytest.approx(3.0) and b2["pc_mean_mpa"] == pytest.approx(2.0)
    assert b1["total_impulse_kns"] == pytest.approx(2.0 * (7 - 2.05), abs=0.01)
    assert b2["wall_temp_peak_k"] == pytest.approx(300 + 50 * 15.999, abs=0.1)


def test_a_noise_spike_before_ignition_is_not_ignition() -> None:
    """A chamber transducer reading ambient plus noise can cross the ignition threshold for a
    sample or two before the propellants light (seen once on a real-time TCP run: a 38 ms
    ignition reported as 1 ms); ignition is where Pc rises and stays."""
    stand = load_stand(LAB)
    table = _synthetic_run(LAB)
    t = table.column("time").to_numpy()
    pc = table.column("pc").to_numpy().copy()
    pc[np.flatnonzero(np.isclose(t, 2.010))] = 2.0  # one sample 10 ms after the valves open
    pc[np.flatnonzero((t > 10.0045) & (t < 10.0065))] = 2.0  # two in a row in the second burn
    table = table.set_column(table.column_names.index("pc"), "pc", pa.array(pc))
    b1, b2 = burn_metrics(table, stand)
    assert b1["ignition_delay_s"] == pytest.approx(0.05, abs=0.0015)
    assert b2["ignition_delay_s"] == pytest.approx(0.03, abs=0.0015)


def test_start_figures_read_the_channel_the_hard_start_check_watches() -> None:
    """A stand whose ``[ignition] channel`` is its second chamber transducer: the start peak and
    rate of rise are that channel's (what the controller compared with ``hard_start_rate``), not
    the Pc channel of ``[limits]``, which here reads a flat 2 MPa."""
    base = load_stand(TQ12)
    stand = dataclasses.replace(base, ignition=dataclasses.replace(base.ignition, channel="pc_b"))
    table = _synthetic_run(TQ12)
    t = table.column("time").to_numpy()
    ramp = np.clip(0.1 + (t - 2.05) * 890.0, 0.1, 9.0)  # a hard start on pc_b only: 890 MPa/s for 10 ms
    spike = np.where((t >= 2.05) & (t < 2.1), ramp, table.column("pc").to_numpy())
    table = table.set_column(table.column_names.index("pc_b"), "pc_b", pa.array(spike))
    first = burn_metrics(table, stand)[0]
    assert first["start_pc_peak_mpa"] == pytest.approx(9.0)
    assert first["start_rate_peak_mpa_s"] == pytest.approx(890.0, rel=0.02)
    assert burn_metrics(table, base)[0]["start_pc_peak_mpa"] == pytest.approx(2.0)  # [ignition] channel = "pc"


def test_burn_means_are_over_time_when_the_loop_skips_cycles() -> None:
    """A real-time loop that misses deadlines records no row for a skipped cycle, and it can skip
    more in one phase than another: the mean Pc and O/F are over time, not over rows (a plain row
    mean read a deep-throttle burn 4 % low on a slow day)."""
    stand = load_stand(LAB)
    table = _synthetic_run(LAB)
    t = table.column("time").to_numpy()
    high = (t >= 2.05) & (t < 4.5)  # first half of burn 1 at 3 MPa, O/F 3; second half 1 MPa, O/F 1
    low = (t >= 4.5) & (t < 7.0)
    pc = np.where(high, 3.0, np.where(low, 1.0, table.column("pc").to_numpy()))
    ox = np.where(high, 0.6, np.where(low, 0.2, table.column("mdot_ox").to_numpy()))
    table = table.set_column(table.column_names.index("pc"), "pc", pa.array(pc))
    table = table.set_column(table.column_names.index("mdot_ox"), "mdot_ox", pa.array(ox))
    every = burn_metrics(table, stand)[0]
    keep = ~low | (np.arange(len(t)) % 4 == 0)  # three of four cycles skipped at low Pc
    skipped = burn_metrics(table.filter(pa.array(keep)), stand)[0]
    want_pc = (2.45 * 3.0 + 2.5 * 1.0) / 4.95
    want_of = (2.45 * 0.6 + 2.5 * 0.2) / (4.95 * 0.2)
    for b in (every, skipped):
        assert b["pc_mean_mpa"] == pytest.approx(want_pc, abs=0.005)
        assert b["of_mean"] == pytest.approx(want_of, abs=0.005)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    a = run(RunOptions(sequence=str(SEQ / "lab_relight.toml"), stand=str(LAB), sim="lockstep", out=str(d / "a"),
                       progress=False))
    b = run(RunOptions(sequence=str(SEQ / "lab_relight.toml"), stand=str(LAB), sim="lockstep", out=str(d / "b"),
                       progress=False, seed=99, faults=("late_ignition:delay=0.04@0",)))
    return a, b


def test_report_on_a_recorded_run(runs) -> None:
    a, _ = runs
    out = report(a.run_dir)
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "<script" not in page  # self-contained, opens offline
    assert page.count("data:image/png;base64,") >= 6
    for needle in ("Burns", "Throttle steps", "Loop health", "SHA-256", a.summary["sequence"]["sha256"],
                   a.summary["stand"]["sha256"], "completed"):
        assert needle in page
    rows = re.findall(r"<tr><td>(\d)</td>", page)
    assert rows[:3] == ["1", "2", "3"]  # one row per burn
    for name in ("pc_overview", "ignitions", "tracking", "valves", "feed", "wall"):
        assert (a.run_dir / f"fig_{name}.png").stat().st_size > 10_000
    # the report's numbers are the summary's numbers (one metrics module)
    assert f"{a.summary['burns'][0]['pc_mean_mpa']:.4g}" in page


def test_compare_two_runs(runs) -> None:
    a, b = runs
    out = compare(a.run_dir, b.run_dir)
    page = out.read_text()
    assert "Run comparison" in page and "B − A" in page and "ignition_delay_s" in page
    delays = [float(x) for x in re.findall(r"<td>ignition_delay_s</td><td>([\d.]+)</td><td>([\d.]+)</td>", page)[0]]
    assert delays[1] > delays[0] + 0.03  # run B lit 40 ms later, and the table says so


def test_exports_are_readable_without_this_package(runs, tmp_path) -> None:
    a, _ = runs
    data = read_run(a.run_dir).table
    csv = export(a.run_dir, "csv", tmp_path / "d.csv")
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    back = pacsv.read_csv(csv)
    assert back.num_rows == data.num_rows and "pc" in back.column_names
    pqf = export(a.run_dir, "parquet", tmp_path / "d.parquet")
    assert pq.read_table(pqf).column("pc").to_pylist() == data.column("pc").to_pylist()
    from nptdms import TdmsFile

    tdms = TdmsFile.read(export_tdms(a.run_dir, tmp_path / "d.tdms"))
    ch = tdms["run"]["pc"]
    assert len(ch) == data.num_rows and ch.properties["unit_string"] == "MPa"
    assert np.allclose(ch[:], data.column("pc").to_numpy())


def test_hil_report_cli_and_run_report(tmp_path) -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "hil.cli", "run", str(SEQ / "tq12_cold_flow.toml"), "--stand", str(TQ12),
                        "--sim", "lockstep", "--out", str(tmp_path / "cf"), "--quiet", "--report"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cf" / "report.html").exists()
