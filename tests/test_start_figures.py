"""Per-burn start figures in summary.json and the run report (hil/record/start_figures.py, issue 24):
igniter proven, ignition confirmed, peak Pc and peak rate of rise in the start transient — from
the run's own recording and events, NaN / "—" (never 0) when unknowable. Real lockstep runs."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from test_staged_start import direct_start, staged_stand

from hil.record.metrics import burn_metrics
from hil.record.recorder import read_events, read_run
from hil.record.report import compare, report
from hil.runner import EXIT_ABORTED, EXIT_OK, RunOptions, run
from hil.stand import load_stand

pytestmark = pytest.mark.timeout(180)
START_KEYS = ("t_igniter_proven_s", "t_ignition_s", "start_pc_peak_mpa", "start_rate_peak_mpa_s")
OLD_KEYS = ("index", "t_start_s", "ignited", "t_shutdown_s", "ignition_delay_s", "t90_s", "duration_s",
            "pc_mean_mpa", "pc_peak_mpa")


def starts_table(html: str) -> list[list[str]]:
    """The rows of the report's Starts table, as cell texts."""
    part = html.split("<h3>Starts</h3>", 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<td>(.*?)</td>", row) for row in part.split("<tr>")[2:]]


def test_a_nominal_relight_gives_every_burns_start_figures_in_the_summary_and_the_report(tmp_path) -> None:
    res = run(RunOptions(sequence="lab_relight", sim="lockstep", out=str(tmp_path / "r"), progress=False))
    assert res.exit_code == EXIT_OK
    burns = res.summary["burns"]
    events = read_events(res.run_dir)
    confirmed = [e["t"] for e in events if e["kind"] == "ignition_confirmed"]
    table = read_run(res.run_dir).table
    t, pc = np.asarray(table.column("time")), np.asarray(table.column("pc"))
    p_ign = np.asarray(table.column("p_ign"))
    assert len(burns) == 3 == len(confirmed)
    for b, t_conf in zip(burns, confirmed):
        assert all(k in b for k in OLD_KEYS + START_KEYS)  # the keys there were stay
        assert b["t_ignition_s"] == pytest.approx(t_conf, abs=1e-6)
        # proven: the first row of this burn's igniter run whose p_ign reads above 0.4 MPa, before the fuel
        k = int(np.searchsorted(t, b["t_igniter_proven_s"] - 1e-9))
        assert p_ign[k] > 0.4 >= p_ign[k - 1] and b["t_igniter_proven_s"] < b["t_start_s"]
        seg = (t >= b["start_from_s"] - 1e-9) & (t <= b["start_to_s"] + 1e-9)
        assert b["start_to_s"] == pytest.approx(t_conf + 1.0, abs=1.5e-3)  # start_transient_s after confirmation
        assert b["start_pc_peak_mpa"] == pytest.approx(float(pc[seg].max()), abs=1e-4)
        assert 0.3 < b["start_pc_peak_mpa"] < 2.4  # lit, and below the hard-start cut
        assert 100.0 < b["start_rate_peak_mpa_s"] < 1000.0  # a rise, below hard_start_rate
    # the same from the run's own files alone
    assert burn_metrics(table, load_stand(res.run_dir / "inputs" / "sim_lab.toml"), events)[0]["t_ignition_s"] \
        == burns[0]["t_ignition_s"]
    rows = starts_table(report(res.run_dir).read_text())
    assert len(rows) == 3 and all("—" not in r for r in rows)
    assert float(rows[0][2]) == pytest.approx(burns[0]["t_ignition_s"], abs=1e-3)


def test_a_burn_never_confirmed_has_no_ignition_time(tmp_path) -> None:
    """The igniter 100 ms late: the staged start aborts before the light. The ignition time is
    unknown — null in summary.json (strict JSON: no NaN token anywhere in it), "—" in the
    report — never 0; the rest is known."""
    res = run(RunOptions(sequence="lab_relight", sim="lockstep", out=str(tmp_path / "r"), progress=False,
                         faults=("late_ignition:delay=0.1@0",)))
    assert res.exit_code == EXIT_ABORTED, res.summary
    def no_nan(token: str) -> None:
        raise AssertionError(f"summary.json holds {token}: not JSON other readers (jq, JavaScript) can read")

    raw = json.loads((res.run_dir / "summary.json").read_text(), parse_constant=no_nan)
    (b,) = raw["burns"]
    assert not b["ignited"] and b["t_ignition_s"] is None
    assert math.isfinite(b["t_igniter_proven_s"]) and math.isfinite(b["start_pc_peak_mpa"])
    assert b["start_to_s"] == pytest.approx(b["t_shutdown_s"] + 0.3, abs=1.5e-3)  # the attempt and its tail
    (row,) = starts_table(report(res.run_dir).read_text())
    assert row[2] == "—" and row[1] != "—" and row[3] != "—"


def test_a_stand_without_an_igniter_channel_leaves_the_igniter_proven_time_unknown(tmp_path) -> None:
    """The lab stand without the staged-start keys names no igniter channel: the recording still
    has p_ign, but nothing says what proves the igniter, so its time is NaN, not a guess."""
    stand = staged_stand(tmp_path, "")
    res = run(RunOptions(sequence=str(direct_start(tmp_path)[0]), stand=str(stand), sim="lockstep",
                         out=str(tmp_path / "r"), progress=False))
    assert res.exit_code == EXIT_OK, res.summary
    for b in res.summary["burns"]:
        assert b["t_igniter_proven_s"] is None and math.isfinite(b["t_ignition_s"])
    rows = starts_table(report(res.run_dir).read_text())
    assert [r[1] for r in rows] == ["—"] * 3
    # hil report A B: the start peaks compared too (this direct start against the staged one)
    staged = run(RunOptions(sequence="lab_relight", sim="lockstep", out=str(tmp_path / "s"), progress=False))
    page = compare(res.run_dir, staged.run_dir).read_text()
    for key in ("start_pc_peak_mpa", "start_rate_peak_mpa_s"):
        assert page.count(f"<td>{key}</td>") == 3


def test_the_tq12_engines_late_igniter_gives_its_start_figures_from_its_own_data(tmp_path) -> None:
    """The TQ-12-like engine's igniter 100 ms late: aborted before the light; the start figures say what the
    chamber did, from the run's own data (the plant's peak is in the firmware block)."""
    res = run(RunOptions(sequence="tq12_hotfire_100", sim="lockstep", out=str(tmp_path / "r"), progress=False,
                         faults=("late_ignition:delay=0.1@0",)))
    assert res.exit_code == EXIT_ABORTED, res.summary
    (b,) = res.summary["burns"]
    assert b["t_ignition_s"] is None and b["start_pc_peak_mpa"] < 0.8 * 13.0
    table = read_run(res.run_dir).table
    t, pc = np.asarray(table.column("time")), np.asarray(table.column("pc"))
    seg = (t >= b["start_from_s"] - 1e-9) & (t <= b["start_to_s"] + 1e-9)
    assert b["start_pc_peak_mpa"] == pytest.approx(float(np.nanmax(pc[seg])), abs=1e-4)
    print(f"TQ-12 late light: start peak {b['start_pc_peak_mpa']} MPa, rise {b['start_rate_peak_mpa_s']} MPa/s, "
          f"plant peak {res.summary['firmware']['peak_pc_mpa']} MPa")
