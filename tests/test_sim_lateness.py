"""The simulator reports its own lateness: how late its scans ran and how late its server could
answer. A run that ends because the simulated stand was starved of CPU says so in its reason and
in the summary's ``simulator`` block (firmware_sim/lateness.py)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from conftest import TQ12
from pymodbus.client import ModbusTcpClient

from firmware_sim.lateness import Lateness, behind, parse_report, simulator_block
from hil.children import start_sim
from hil.runner import EXIT_FAULT, RunOptions, _wire_block, run
from hil.stand import firmware_map as fw

pytestmark = pytest.mark.timeout(120)


def test_lateness_keeps_the_maximum_and_counts_over_each_threshold() -> None:
    lat = Lateness()
    for s in (0.0002, 0.003, 0.007, 0.025, 0.0):
        lat.add(s)
    d = lat.as_dict("scan")
    assert d["scan_late_max_ms"] == 25.0 and d["scan_samples"] == 5
    assert (d["scan_late_over_1ms"], d["scan_late_over_5ms"], d["scan_late_over_20ms"]) == (3, 2, 1)


def test_a_run_that_did_not_complete_names_the_simulator_when_it_fell_behind() -> None:
    out = 'hil sim: lateness {"answer_late_max_ms": 180.0, "scan_late_max_ms": 175.0, "skipped_scans": 74}\n' \
          "hil sim: stopped at t=3 s\n"
    summary = {"outcome": "fault", "abort_reason": "communication lost", "fault_reason": "communication lost"}
    simulator_block(summary, out, 0.02)
    assert summary["simulator"]["fell_behind"] and summary["simulator"]["answer_late_max_ms"] == 180.0
    assert summary["fault_reason"].startswith("communication lost [the simulated stand fell behind (starved of CPU)")
    assert "woke up to 180 ms late (the devices' timeout is 20 ms)" in summary["abort_reason"]
    fine = {"outcome": "fault", "abort_reason": "redline pc_high", "fault_reason": None}
    simulator_block(fine, 'hil sim: lateness {"answer_late_max_ms": 2.0, "scan_late_max_ms": 1.0}\n', 0.02)
    assert fine["abort_reason"] == "redline pc_high" and not fine["simulator"]["fell_behind"]
    assert behind({"answer_late_max_ms": 19.0, "scan_late_max_ms": 3.0, "skipped_scans": 0}, 0.02) == ""


def test_a_run_that_did_not_complete_names_a_stalled_serial_line() -> None:
    """The pty bridges' probe figures (hil/ptypair.py) go into ``simulator.wires``; a line held
    past the RTU timeout is named in the reason of a run that did not complete, never in one
    that did."""
    wires = {"rtu": {"scheduling": "SCHED_FIFO 70", "probes": 900, "delivery_max_ms": 99.4}}
    summary = {"outcome": "fault", "abort_reason": "firmware safed the stand (watchdog)",
               "fault_reason": "firmware safed the stand (watchdog)"}
    _wire_block(summary, wires, 0.03)
    assert summary["simulator"]["wires"] == wires
    assert summary["fault_reason"].startswith("firmware safed the stand (watchdog) [the simulated serial line stalled")
    assert "up to 99 ms" in summary["abort_reason"] and "timeout is 30 ms" in summary["simulator"]["wire_note"]
    done = {"outcome": "completed", "abort_reason": None, "fault_reason": None}
    _wire_block(done, wires, 0.03)
    assert done["abort_reason"] is None and done["simulator"]["wire_note"]  # said, but blames nothing
    quiet = {"outcome": "fault", "abort_reason": "redline pc_high", "fault_reason": None}
    _wire_block(quiet, {"rtu": {**wires["rtu"], "delivery_max_ms": 4.0}}, 0.03)
    assert quiet["abort_reason"] == "redline pc_high" and "wire_note" not in quiet["simulator"]


def _wait_for_scans(port: int) -> None:
    """Until the firmware's scan counter moves: its scan thread runs (a stall before it started
    would be no stall of it)."""
    deadline = time.monotonic() + 10.0
    first = None
    with ModbusTcpClient("127.0.0.1", port=port, timeout=2) as c:
        while time.monotonic() < deadline:
            regs = c.read_input_registers(fw.IR_SCAN_COUNT, count=2, device_id=1).registers
            n = (regs[0] << 16) | regs[1]
            if first is not None and n > first:
                return
            first = n if first is None else first
    raise AssertionError("the simulator's scan counter did not move in 10 s")


def test_hil_sim_measures_its_own_stall() -> None:
    """The simulator process is stopped for 0.3 s (what a starved process sees): on exit it
    reports scans and answers that late, where an undisturbed one reports a few ms."""
    child = start_sim(TQ12, "tcp")
    try:
        _wait_for_scans(child.port)
        os.kill(child.proc.pid, signal.SIGSTOP)
        time.sleep(0.3)  # the stall being measured, not a wait for a condition
        os.kill(child.proc.pid, signal.SIGCONT)
    finally:
        out = child.stop()
    report = parse_report(out)
    assert report is not None, out
    assert report["answer_samples"] > 0 and report["scan_samples"] > 0
    assert report["answer_late_max_ms"] >= 250 and report["scan_late_max_ms"] >= 250, report
    assert "fell behind" in behind(report, 0.02)


def _sim_pid() -> int:
    """The `hil sim` child this test's run started (found by parent pid and command line)."""
    me = os.getpid()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (d / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me and b"hil.cli" in cmd and b"sim" in cmd:
            return int(d.name)
    raise AssertionError("no simulator child")


def test_a_run_over_tcp_whose_simulator_stalls_says_so_in_its_reason(tmp_path) -> None:
    """The simulator child is stopped for 1 s mid-run (from another thread: the loop runs on):
    the run ends on the missing answers, and its reason says the simulated stand fell behind."""
    stalled: list[threading.Thread] = []

    def starve(pid: int) -> None:
        os.kill(pid, signal.SIGSTOP)
        time.sleep(1.0)  # the starved simulator: nobody answers the loop for 1 s
        os.kill(pid, signal.SIGCONT)

    def stall(ctl) -> None:  # type: ignore[no-untyped-def]
        if not stalled and ctl.loop.t > 1.0:
            stalled.append(threading.Thread(target=starve, args=(_sim_pid(),)))
            stalled[0].start()

    res = run(RunOptions(sequence="tq12_hotfire_100", stand=str(TQ12), sim="tcp", out=str(tmp_path / "r"),
                         progress=False, on_cycle=stall, max_seconds=5.0))
    stalled[0].join()
    s = res.summary
    assert res.exit_code == EXIT_FAULT, s["abort_reason"]
    assert "no answer" in s["abort_reason"]  # the loop starved of answers (degraded or link lost)
    assert "[the simulated stand fell behind (starved of CPU)" in s["abort_reason"]
    assert s["simulator"]["fell_behind"] and s["simulator"]["answer_late_max_ms"] >= 900
