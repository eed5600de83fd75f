"""The fault matrix: every injectable fault of the simulated stand in every phase of a burn,
run in lockstep, each cell judged on what matters after a bad day at the stand. It is a
campaign without dispersion (hil/campaign): one run per cell, run by the same code.

A cell passes only if the stand ends safe (propellant valves shut in the plant, no flame),
there was no hard start beyond the firmware's overpressure limit, and the recording covers
every cycle. `hil faults` runs it and writes docs/fault-matrix.md.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hil.campaign.execute import run_dask, run_local
from hil.campaign.runs import RunSpec, run_one
from hil.campaign.spec import FaultCase, fault_at
from hil.record.recorder import read_events
from hil.runner import RunOptions, run
from hil.stand import load_stand

ROOT = Path(__file__).resolve().parent.parent
STAND = ROOT / "configs/stands/sim_tq12.toml"
DEVICES = ROOT / "configs/stands/sim_tq12_devices.toml"  # the same plant as four Modbus devices
SEQUENCE = ROOT / "configs/sequences/tq12_fault_matrix.toml"

# fault templates; {t} is the phase time on the simulator clock
FAULTS: dict[str, str] = {
    "ignition failure": "ignition_failure@{t}",
    "igniter failure": "igniter_failure@{t}",  # the torch never lights: the next start ends on its proof
    "late ignition 0.3 s": "late_ignition:delay=0.3@{t}",
    "fuel valve stuck open": "valve_stuck:valve=fuel_main,at=open@{t}",
    "LOX valve stuck closed": "valve_stuck:valve=ox_main,at=closed@{t}",
    "GG (throttle) valve stuck": "valve_stuck:valve=gg,at=here@{t}",
    "Pc sensor dropout": "pc_dropout@{t}",
    "Pc sensor frozen": "pc_frozen@{t}",
    "Pc sensor drift 2 MPa/s": "pc_drift:rate=2.0@{t}",
    "combustion instability 25 %": "instability:amp=0.25,hz=180@{t}",
    "firmware silent 50 ms": "stop_answering@{t}+0.05",
    "firmware silent 500 ms": "stop_answering@{t}+0.5",
    "firmware silent for good": "stop_answering@{t}",
    "Modbus exception responses 1 s": "exception_response:code=4@{t}+1.0",
    # line faults: the run goes over a modelled RTU line (firmware_sim/server.py), still in lockstep
    "RTU CRC errors, 30 % of answers for 1 s": "crc_error:rate=0.3@{t}+1.0",
    "RTU CRC errors, 2 % of answers for 1 s": "crc_error:rate=0.02@{t}+1.0",
    "RTU line noise before 30 % of answers for 1 s": "garbage:rate=0.3,bytes=6@{t}+1.0",
    "slow responses 2 ms for 1 s": "slow_response:delay=0.002@{t}+1.0",
    "slow responses 15 ms for 1 s": "slow_response:delay=0.015@{t}+1.0",
}
# rows on the four-device stand (DEVICES): losing one device, a device refusing, a slow RS-485 line
DEVICE_FAULTS: dict[str, str] = {
    "DAQ lost (critical device)": "stop_answering:device=daq@{t}",
    "valve PLC lost (critical device)": "stop_answering:device=plc@{t}",
    "flowmeter module lost (non-critical)": "stop_answering:device=flow@{t}",
    "thermocouple module lost (non-critical, redlined)": "stop_answering:device=tc@{t}",
    "valve PLC answers with exceptions 1 s": "exception_response:code=4,device=plc@{t}+1.0",
    "slow RS-485 line: modules 25 ms late for 2 s": "slow_response:delay=0.025,device=flow@{t}+2.0",
    # a slow module's lateness is judged by the redline it feeds (hil/safety/blind.py): wall_temp
    # tolerates 310 ms without a sample; the module lost after 3 unanswered polls is a FAULT
    "thermocouple module late by 1.5 periods for 3 s": "device_late:device=tc,factor=1.5@{t}+3.0",
    "thermocouple module silent past its tolerance": "device_silent:device=tc@{t}",
}
# how a cell must end, where the fault decides it (the others: any outcome, the stand safe)
EXPECTED: dict[str, str] = {
    "thermocouple module late by 1.5 periods for 3 s": "completed",
    "thermocouple module silent past its tolerance": "fault",
}
FAULTS.update(DEVICE_FAULTS)


def phase_times() -> dict[str, float]:
    """Simulator-clock times of each phase, from a nominal run of the reference sequence."""
    with tempfile.TemporaryDirectory() as d:
        res = run(RunOptions(sequence=str(SEQUENCE), stand=str(STAND), sim="lockstep", out=str(Path(d) / "r"),
                             progress=False))
        assert res.summary["outcome"] == "completed", res.summary["abort_reason"]
        events = read_events(Path(d) / "r")
    fuel = [e["t"] for e in events if e["kind"] == "step" and e.get("label") == "fuel open"]
    main = [e["t"] for e in events if e["kind"] == "wait_ok" and e.get("condition") == "pc > 9.0"]
    thr = [e["t"] for e in events if e["kind"] == "step" and e.get("label") == "throttle to 70 %"]
    stop = [e["t"] for e in events if e["kind"] == "shutdown_commanded"]
    return {"pre-ignition": round(fuel[0] - 0.5, 3), "start transient": round(fuel[0] + 0.1, 3),
            "mainstage": round(main[0] + 0.8, 3), "throttle transient": round(thr[0] + 0.5, 3),
            "shutdown": round(stop[0] + 0.03, 3), "between relights": round(stop[0] + 2.0, 3)}


@dataclass
class Cell:
    """One fault in one phase and how it ended."""

    fault: str
    phase: str
    spec: str
    outcome: str = ""
    reason: str = ""
    reaction_s: float | None = None
    valves_closed: bool = False
    burning: bool = True
    peak_pc_mpa: float = 0.0
    recording_complete: bool = False
    passed: bool = False
    why_failed: str = ""


def spec_of(index: int, fault: str, phase: str, t: float) -> RunSpec:
    """The cell as a campaign run: one fault in one phase, the nominal engine, the stand's seed."""
    stand = DEVICES if fault in DEVICE_FAULTS else STAND
    sim = load_stand(stand).sim
    assert sim is not None
    return RunSpec("fault_matrix", index, str(SEQUENCE), str(stand), FaultCase(FAULTS[fault].replace("@{t}", ""), phase),
                   t, sim.seed)


def cell_of(fault: str, phase: str, spec: RunSpec, row: dict[str, Any]) -> Cell:
    """The cell's verdict from its run's row."""
    fw_cfg = load_stand(STAND).firmware
    assert fw_cfg is not None, "the fault matrix runs on a simulated stand with firmware"
    limit = fw_cfg.overpressure_limit
    cell = Cell(fault, phase, fault_at(spec.case.fault, spec.fault_start_s or 0.0))
    cell.outcome, cell.reason, cell.reaction_s = row["outcome"], row["abort_reason"], row["reaction_s"]
    cell.valves_closed, cell.burning = row["valves_closed"], row["burning_at_end"]
    cell.peak_pc_mpa, cell.recording_complete = row["peak_pc_mpa"], row["recording_complete"]
    problems = []
    if not cell.valves_closed or cell.burning:
        problems.append("stand not safe at the end")
    if cell.peak_pc_mpa > limit:
        problems.append(f"hard start: peak Pc {cell.peak_pc_mpa:.2f} MPa > {limit:g} MPa")
    if not cell.recording_complete:
        problems.append("recording incomplete")
    expected = EXPECTED.get(fault)
    if expected and cell.outcome != expected:
        problems.append(f"ended {cell.outcome}, not {expected}")
    cell.passed = not problems
    cell.why_failed = "; ".join(problems)
    return cell


def run_cell(fault: str, phase: str, t: float) -> Cell:
    """One cell, here."""
    spec = spec_of(0, fault, phase, t)
    return cell_of(fault, phase, spec, run_one(spec)[0])


def run_matrix(workers: int = 2, faults: list[str] | None = None, phases: list[str] | None = None,
               scheduler: str | None = None) -> list[Cell]:
    """Every fault in every phase: a campaign without dispersion, one run per cell, on a process
    pool (or a Dask cluster), the same runs ``hil campaign`` makes."""
    times = phase_times()
    jobs = [(f, p, times[p]) for f in (faults or list(FAULTS)) for p in (phases or list(times))]
    specs = [spec_of(i, f, p, t) for i, (f, p, t) in enumerate(jobs)]
    results = run_dask(specs, scheduler) if scheduler else run_local(specs, workers)
    return [cell_of(f, p, spec, row) for (f, p, _), spec, (row, _) in zip(jobs, specs, results)]


def markdown(cells: list[Cell]) -> str:
    """docs/fault-matrix.md: the pass table, then every cell's details."""
    phases = list(dict.fromkeys(c.phase for c in cells))
    faults = list(dict.fromkeys(c.fault for c in cells))
    passed = sum(c.passed for c in cells)
    lines = ["# Fault matrix", "",
             f"**{passed} of {len(cells)} cells pass.** Generated by `hil faults` (lockstep, simulated TQ-12-like stand, "
             "sequence `configs/sequences/tq12_fault_matrix.toml`: two burns with a throttle transient). A cell passes "
             "only if the stand ends safe (both propellant lines shut in the plant — main or isolation valve — and no "
             "flame), there was no hard start "
             "beyond the firmware's overpressure limit (13 MPa), and the recording covers every cycle.", "",
             "| fault | " + " | ".join(phases) + " |", "|---|" + "---|" * len(phases)]
    by = {(c.fault, c.phase): c for c in cells}
    for f in faults:
        row = []
        for p in phases:
            c = by[(f, p)]
            mark = "✔" if c.passed else "✘"
            row.append(f"{mark} {c.outcome}")
        lines.append(f"| {f} | " + " | ".join(row) + " |")
    lines += ["", "## Cells", "", "| fault | phase | spec | outcome | reason | reaction [s] | valves shut | peak Pc [MPa] | "
              "recording | result |", "|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        reason = c.reason.replace("|", "/")[:110]
        lines.append(f"| {c.fault} | {c.phase} | `{c.spec}` | {c.outcome} | {reason} | "
                     f"{'—' if c.reaction_s is None else c.reaction_s} | {'yes' if c.valves_closed else 'NO'} | "
                     f"{c.peak_pc_mpa:.2f} | {'complete' if c.recording_complete else 'INCOMPLETE'} | "
                     f"{'pass' if c.passed else 'FAIL: ' + c.why_failed} |")
    lines += ["", "Reaction: from the fault's start to the first abort, fault or sensor disqualification the controller "
              "logged (— where the run never needed one). Line faults (CRC errors, noise, slow responses) run over a "
              "modelled RTU line: the simulator frames every answer with pymodbus's RTU framer and corrupts it, the "
              "controller decodes it with its real RTU code, and timeouts (20 ms, one retry) cost simulator time. "
              "Such runs abort when the loop falls below 20 % of its rate over 0.5 s (`[loop] min_rate_pct`).", "",
              "The device rows run on `configs/stands/sim_tq12_devices.toml` (the same plant as a fast DAQ and a valve "
              "PLC on Modbus TCP and two modules on one RS-485 line): a lost critical device latches FAULT and the "
              "safing goes out through the devices that still answer; a lost non-critical device only disqualifies "
              "its channels, and a redline watching them decides. In lockstep the RS-485 line's transactions cost no "
              "loop time (on a real clock the line has its own thread); an answer later than the 30 ms timeout is lost. "
              "A late module is judged by the redline it feeds: wall_temp may go 310 ms without a sample "
              "(persistence 3 × 50 ms + the module's 160 ms stale time, docs/stand-config.md), so the module late by "
              "1.5 periods must complete and the silent one must end in FAULT (the cells check the outcome)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse
    import time

    ap = argparse.ArgumentParser(prog="hil faults", description="run the fault matrix (lockstep)")
    ap.add_argument("--out", help="write the markdown table here (e.g. docs/fault-matrix.md)")
    ap.add_argument("--json", help="write every cell as JSON here")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scheduler", metavar="ADDRESS", help="run the cells on a Dask distributed cluster")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    cells = run_matrix(args.workers, scheduler=args.scheduler)
    text = markdown(cells)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(c) for c in cells], indent=2))
    passed = sum(c.passed for c in cells)
    print(f"fault matrix: {passed} of {len(cells)} cells pass ({time.monotonic() - t0:.0f} s)")
    for c in cells:
        if not c.passed:
            print(f"  FAIL {c.fault} / {c.phase}: {c.why_failed} ({c.outcome}: {c.reason})")
    return 0 if passed == len(cells) else 1
