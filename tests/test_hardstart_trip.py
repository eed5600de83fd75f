"""The simulated firmware's hard-wired hard-start trip (firmware_sim/trip.py, issue 24): it acts
on its own reading at its own scan, with no controller at all or with the controller's own cut
disabled; it leaves every nominal start of the shipped sequences alone; it latches and resets
only with the outputs commanded safe."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import LAB, TQ12
from simrig import Rig
from test_staged_start import direct_start, staged_stand

from hil.errors import ConfigError
from hil.record.recorder import read_run
from hil.runner import EXIT_FAULT, EXIT_OK, RunOptions, run
from hil.stand import firmware_map as fw
from hil.stand import load_stand, parse_stand

pytestmark = pytest.mark.timeout(300)
FW_TAIL = "overpressure_samples = 3\n"


def with_firmware_keys(tmp_path: Path, stand: Path, extra: str) -> Path:
    """A copy of a shipped stand with ``extra`` lines added to its [firmware] table."""
    text = stand.read_text()
    assert text.count(FW_TAIL) == 1
    path = tmp_path / stand.name
    path.write_text(text.replace(FW_TAIL, FW_TAIL + extra))
    return path


def scan_until_trip(rig: Rig, seconds: float, level: float) -> tuple[int | None, int | None]:
    """Scan by scan: the scan the plant's Pc first exceeded ``level`` and the scan the firmware latched."""
    over = tripped = None
    for _ in range(int(round(seconds / rig.fw.dt))):
        rig.fw.scan()
        if over is None and rig.fw.engine.pc / 1e6 > level:
            over = rig.fw.scans
        if tripped is None and rig.fw.state == fw.FwState.SAFED:
            tripped = rig.fw.scans
            eng = rig.fw.engine
            # every propellant valve and the igniter commanded shut at that scan: no fuel lag
            assert eng.cmd_ox == eng.cmd_fuel == eng.cmd_gg == 0.0 and not eng.igniter
            assert not eng.purge  # the rest of the safing table (the purge) comes on its own time
    return over, tripped


@pytest.mark.parametrize("stand", [LAB, TQ12], ids=["lab", "tq12"])
def test_with_no_controller_at_all_a_late_ignition_is_tripped_at_the_scan_its_reading_crosses(stand) -> None:
    """Nobody writes a heartbeat or reads a register: the valves go to their design opening on an
    igniter 100 ms late (the direct start of before issue 24). The firmware latches with its
    hard-start bit at the scan its own Pc reading crosses the level (the overpressure limit by
    default), 0 or 1 scans after the plant's Pc does (the transducer's 0.5 ms lag)."""
    rig = Rig(stand, faults=("late_ignition:delay=0.1@0",))
    level = rig.stand.firmware.overpressure_limit
    assert rig.fw.hard_start.level == level  # the documented default
    rig.start()
    over, tripped = scan_until_trip(rig, 1.0, level)
    assert over is not None and tripped is not None, (over, tripped)
    seen = rig.fw.hard_start.seen
    assert seen is not None and seen.scan == tripped and seen.reading > level
    regs = rig.system()
    assert regs[fw.IR_STATE] == fw.FwState.SAFED
    assert regs[fw.IR_TRIPS] & fw.Trip.HARD_START_LEVEL
    assert int(regs[fw.IR_TRIP_TIME_MS + 1]) == round(seen.t * 1000) & 0xFFFF
    assert 0 <= tripped - over <= 1, (over, tripped)
    print(f"{rig.stand.name}: plant Pc above {level:g} MPa at scan {over}, tripped at scan {tripped} "
          f"({tripped - over} scan(s)), reading {seen.reading:.2f} MPa")


def test_without_the_trip_the_same_start_is_left_to_the_overpressure_trip_and_its_fuel_lag(tmp_path) -> None:
    """The check above can fail: with the level set beyond the transducer's range the same start
    is not cut when the reading crosses; the overpressure trip latches scans later and follows the
    safing table, which leaves the fuel open for its lag."""
    rig = Rig(with_firmware_keys(tmp_path, LAB, "hard_start_above = 100.0\n"), faults=("late_ignition:delay=0.1@0",))
    rig.start()
    over = tripped = None
    for _ in range(300):
        rig.fw.scan()
        if over is None and rig.fw.engine.pc / 1e6 > 2.6:
            over = rig.fw.scans
        if rig.fw.state == fw.FwState.SAFED:
            tripped = rig.fw.scans
            break
    assert rig.fw.hard_start.seen is None and over is not None and tripped is not None
    assert rig.fw.trips == fw.Trip.OVERPRESSURE and tripped - over == 2  # its 3rd sample
    assert rig.fw.engine.cmd_ox == 0.0 and rig.fw.engine.cmd_fuel > 0  # the fuel lags by the table's 50 ms


def test_the_rate_criterion_trips_below_the_level(tmp_path) -> None:
    """A stand may arm the rate criterion: on the TQ-12-like engine, rising faster than 5000 MPa/s
    trips a 60 ms late light of a full-open start (~9000 MPa/s in its steepest scan, a 13 MPa plant
    peak untripped) before the reading reaches the overpressure limit, with the rate bit. (At
    100 ms the reading crosses the level in the same scan, and the level is checked first.)"""
    stand = with_firmware_keys(tmp_path, TQ12, "hard_start_rate = 5000.0\nhard_start_samples = 1\n")
    rig = Rig(stand, faults=("late_ignition:delay=0.06@0",))
    rig.start()
    _, tripped = scan_until_trip(rig, 1.0, 13.0)
    seen = rig.fw.hard_start.seen
    assert tripped is not None and seen is not None and seen.why == fw.Trip.HARD_START_RATE
    assert seen.rate > 5000.0 and seen.reading < rig.stand.firmware.overpressure_limit
    assert rig.system()[fw.IR_TRIPS] & fw.Trip.HARD_START_RATE


def test_it_latches_and_resets_only_with_the_outputs_commanded_safe() -> None:
    """Latched: the holding registers still command the valves open and the firmware ignores them;
    a reset is refused while any propellant valve or the igniter is commanded on, accepted once
    all are shut (trip bits cleared); the next start is watched afresh and a nominal one passes."""
    rig = Rig(LAB, faults=("late_ignition:delay=0.1@0+0.5",))
    rig.start()
    scan_until_trip(rig, 0.5, rig.stand.firmware.overpressure_limit)
    assert rig.fw.state == fw.FwState.SAFED
    rig.run(1.0)  # the chamber has long come down; still latched, the registers still say open
    assert rig.fw.state == fw.FwState.SAFED and rig.fw.engine.cmd_fuel == 0.0
    assert rig.hr[rig.stand.actuator("fuel_main").register] > 0
    assert rig.command(fw.Command.RESET)[1] == fw.AckResult.REFUSED_OUTPUTS_NOT_SAFE
    assert rig.system()[fw.IR_TRIPS] & fw.Trip.HARD_START_LEVEL
    rig.set(ox_main=0, fuel_main=0, igniter=0, purge=0)
    assert rig.command(fw.Command.RESET)[1] == fw.AckResult.OK
    regs = rig.system()
    assert regs[fw.IR_STATE] == fw.FwState.NORMAL and regs[fw.IR_TRIPS] == 0
    rig.start()  # the igniter is on time again
    rig.run(1.0)
    assert rig.fw.state == fw.FwState.NORMAL and rig.fw.engine.burning
    assert rig.fw.hard_start.starts == 2


def test_the_keys_are_checked_with_file_and_line() -> None:
    text = LAB.read_text()
    with pytest.raises(ConfigError, match="hard_start_rate.*must be a finite number > 0"):
        parse_stand(text.replace(FW_TAIL, FW_TAIL + "hard_start_rate = -1\n"), "lab.toml")
    no_channel = text.replace('overpressure_channel = "pc"\n', "")
    with pytest.raises(ConfigError, match="reads the overpressure channel") as err:
        parse_stand(no_channel.replace(FW_TAIL, FW_TAIL + "hard_start_above = 2.5\n"), "lab.toml")
    assert str(err.value).startswith("lab.toml:31: firmware.hard_start_above")  # file, line and key
    assert math.isinf(parse_stand(no_channel, "lab.toml").firmware.hard_start_above)  # no channel: no trip


def test_on_the_shipped_stands_the_controllers_cut_comes_before_the_firmwares() -> None:
    """Documented (docs/safety.md): the firmware's level sits above the controller's, so a working
    controller aborts (SAFE) before the firmware latches (FAULT)."""
    for path in (LAB, TQ12):
        stand = load_stand(path)
        assert stand.ignition and stand.ignition.hard_start_above is not None and stand.firmware
        assert stand.ignition.hard_start_above < stand.firmware.hard_start_above < math.inf, path


# ------------------------------------------------------------------------------ with a controller

def test_a_controller_whose_own_cut_is_disabled_sees_the_firmware_trip_as_a_fault_with_its_reason(tmp_path) -> None:
    """The lab stand without the staged-start keys (so without the controller's own hard-start
    cut), the direct start, the igniter 100 ms late: the firmware trips by itself; the controller
    reads the trip bit, records a firmware_trip event with the reason and latches FAULT."""
    stand = staged_stand(tmp_path, "")
    res = run(RunOptions(sequence=str(direct_start(tmp_path)[0]), stand=str(stand), sim="lockstep",
                         out=str(tmp_path / "r"), progress=False, faults=("late_ignition:delay=0.1@0",)))
    assert res.exit_code == EXIT_FAULT, res.summary
    assert res.summary["fault_reason"] == "firmware safed the stand (hard_start_level)", res.summary
    events = [json.loads(ln) for ln in (res.run_dir / "events.jsonl").read_text().splitlines()]
    assert not [e for e in events if e["kind"] == "hard_start"]  # the controller's cut is off
    trip = next(e for e in events if e["kind"] == "firmware_trip")
    assert trip["trips"] == ["hard_start_level"]
    assert trip["reason"].startswith("hard start: chamber pressure above the firmware's hard_start_above")
    seen = res.summary["firmware"]["hard_start_trip"]["tripped"]
    assert seen["why"] == "hard_start_level" and seen["reading_mpa"] > 2.6
    # the controller's own recording: the first row above the level is the trip's scan (or the next)
    table = read_run(res.run_dir).table
    t, pc = np.asarray(table.column("time")), np.asarray(table.column("pc"))
    first = float(t[np.argmax(pc > 2.6)])
    assert abs(first - seen["t"]) <= 1.5e-3, (first, seen)
    print(f"firmware trip at {seen['t']:.3f} s (reading {seen['reading_mpa']} MPa); the controller's first "
          f"row above 2.6 MPa at {first:.3f} s; FAULT recorded at {trip['t']:.3f} s")


NOMINAL = [("lab_relight", 3), ("tq12_three_burn", 3)]
NOMINAL_SLOW = [("tq12_hotfire_100", 1), ("tq12_throttle", 1), ("tq12_three_burn_gonogo", 3)]


def _nominal(tmp_path: Path, sequence: str, burns: int) -> None:
    res = run(RunOptions(sequence=sequence, sim="lockstep", out=str(tmp_path / "r"), progress=False,
                         auto_proceed=True))
    assert res.exit_code == EXIT_OK, res.summary
    trip = res.summary["firmware"]["hard_start_trip"]
    assert trip["enabled"] and trip["tripped"] is None
    # (the watchdog trips after the run: the plant is left running 0.5 s with no controller)
    assert not res.summary["firmware"]["trips"] & (fw.Trip.HARD_START_LEVEL | fw.Trip.HARD_START_RATE)
    assert trip["starts"] == burns == len(res.summary["burns"])  # it watched every start
    assert trip["peak_reading_mpa"] < trip["level_mpa"]
    print(f"{sequence}: {burns} start(s) watched, highest reading {trip['peak_reading_mpa']} MPa "
          f"against {trip['level_mpa']} MPa")


@pytest.mark.parametrize("sequence, burns", NOMINAL)
def test_no_nominal_start_of_the_shipped_sequences_trips_it(tmp_path, sequence, burns) -> None:
    _nominal(tmp_path, sequence, burns)


@pytest.mark.slow
@pytest.mark.parametrize("sequence, burns", NOMINAL_SLOW)
def test_no_nominal_start_of_the_other_shipped_sequences_trips_it(tmp_path, sequence, burns) -> None:
    _nominal(tmp_path, sequence, burns)


def test_a_spike_past_both_levels_in_one_scan_is_latched_by_the_firmware_first(tmp_path) -> None:
    """Documented (docs/safety.md): with the controller's cut on (2.4 MPa) and the firmware's at its
    default (2.6), the lab engine's late light saturates the transducer in one scan; the firmware
    scans before the controller's cycle reads it, so the run ends in FAULT on the firmware's trip,
    every propellant valve shut at that scan."""
    stand = staged_stand(tmp_path, "hard_start_rate = 800.0\nhard_start_above = 2.4\n")
    res = run(RunOptions(sequence=str(direct_start(tmp_path)[0]), stand=str(stand), sim="lockstep",
                         out=str(tmp_path / "r"), progress=False, faults=("late_ignition:delay=0.1@0",)))
    assert res.exit_code == EXIT_FAULT, res.summary
    assert res.summary["fault_reason"] == "firmware safed the stand (hard_start_level)"
    assert res.summary["firmware"]["hard_start_trip"]["tripped"]["reading_mpa"] > 4.0  # saturated: 4.5


def test_a_long_lox_lead_does_not_spend_the_window_before_the_fuel_opens() -> None:
    """The window runs from the last chamber valve to open: a 1.9 s LOX lead (inside a 2 s
    window counted from the LOX) left 0.1 s after the fuel opened, and a light 100 ms late went
    untripped by the hard-start trip (the slower overpressure trip came later, the fuel left open
    for its safing lag). Now it is tripped as a start without a lead is."""
    rig = Rig(LAB, faults=("late_ignition:delay=0.1@0",))
    eng = rig.fw.engine.p
    open_pct = 100.0 * eng.valve_design_opening
    rig.set(igniter=1, ox_main=open_pct)
    rig.run(1.9)
    assert rig.fw.state != fw.FwState.SAFED
    rig.set(fuel_main=open_pct)
    level = rig.stand.firmware.overpressure_limit
    _, tripped = scan_until_trip(rig, 1.0, level)
    assert tripped is not None and rig.fw.hard_start.starts == 1
    assert rig.system()[fw.IR_TRIPS] & fw.Trip.HARD_START_LEVEL
