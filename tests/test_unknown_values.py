"""Unknown is not zero: a channel whose device has not answered yet, or has stopped answering,
is NaN in telemetry and in the recording and the sensor qualifier says which device; ARM waits
for every device's first fresh reading; a slow module's lateness is judged by the redline it
feeds (blind_after), not by its stale time."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import STANDS

from firmware_sim.faults import parse_fault
from firmware_sim.firmware import Firmware
from hil.controller import Controller
from hil.cycle import CycleState
from hil.cycle.clock import VirtualClock
from hil.record.recorder import read_run
from hil.runner import RunOptions, run
from hil.safety import RedlineMonitor, SensorQualifier, State, Supervisor
from hil.safety.blind import blind_after
from hil.service.protocol import status_of
from hil.stand import Redline, load_stand
from hil.stand.iomap import Commands
from hil.transport.lockstep import LockstepTransport

DEVICES = STANDS / "sim_tq12_devices.toml"
STAND = load_stand(DEVICES)
pytestmark = pytest.mark.timeout(300)


def _controller(faults: tuple[str, ...] = ()) -> tuple[Controller, Firmware]:
    f = Firmware(STAND, faults=[parse_fault(x) for x in faults])
    ctl = Controller(STAND, {d.name: LockstepTransport(f, d.name) for d in STAND.devices}, VirtualClock(f))
    ctl.loop.start()
    return ctl, f


def _short_run(tmp_path: Path, sim: str, faults: tuple[str, ...] = ()) -> tuple[dict, list[dict], np.ndarray]:
    out = tmp_path / sim
    run(RunOptions(sequence="tq12_three_burn", stand=str(DEVICES), sim=sim, out=str(out), progress=False,
                   faults=faults, max_seconds=0.3))
    events = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
    return json.loads((out / "summary.json").read_text()), events, read_run(out).table.column("wall_temp").to_numpy()


def _nan_then_values(wall: np.ndarray) -> int:
    """Rows before the first reading hold NaN, every later row a real temperature; returns how
    many rows were unknown. (The decoder's image starts at 0: a 0 K row is the bug.)"""
    finite = wall[np.isfinite(wall)]
    bad = finite[finite <= 200.0]
    assert not bad.size, f"{bad.size} rows hold a value no register held (first: {bad[0]:g} K)"
    known = np.flatnonzero(np.isfinite(wall))
    assert known.size, "the thermocouple module never answered"
    first = int(known[0])
    assert first > 0, "the first row already had a reading: nothing tested"
    assert np.isnan(wall[:first]).all()
    return first


def test_rows_before_a_slow_devices_first_answer_are_nan_in_lockstep(tmp_path) -> None:
    """The TC module (20 Hz) answers for the first time after 0.25 s: every row before is NaN,
    not the 0 K the decoder's empty image decodes to, and the qualifier says 'not read yet'."""
    s, events, wall = _short_run(tmp_path, "lockstep", ("stop_answering:device=tc@0+0.25",))
    first = _nan_then_values(wall)
    assert first >= 250  # 1 kHz rows, none before the module's first answer
    unknown = [e for e in events if e["kind"] == "sensor_unknown" and e["channel"] == "wall_temp"]
    assert unknown and unknown[0]["reason"] == "not read yet: device 'tc' has not answered"


def test_rows_before_a_slow_devices_first_answer_are_nan_over_tcp(tmp_path) -> None:
    """Real links (two TCP servers, the RS-485 line in its own thread): the loop records rows
    from its first cycle, before the line thread has brought the module's first answer."""
    s, events, wall = _short_run(tmp_path, "tcp")
    _nan_then_values(wall)
    assert any(e["kind"] == "sensor_unknown" and e["channel"] == "wall_temp" and "device 'tc'" in e["reason"]
               for e in events)


def test_a_device_that_stops_answering_is_nan_after_its_stale_time_and_named() -> None:
    ctl, f = _controller()
    loop = ctl.loop
    i = loop.decoder.index["wall_temp"]
    for _ in range(1000):
        loop.step()
    assert np.isfinite(loop.cs.values[i]) and status_of(ctl.snapshot())["channel_age"]["wall_temp"] < 0.05
    f.silent.add("tc")
    tc = next(lk for lk in loop.io.links if lk.name == "tc")
    last_ok, held = tc.last_ok, float(loop.cs.values[i])
    stale_after = STAND.device("tc").stale_after(loop.rate_hz)
    while np.isfinite(loop.cs.values[i]):
        assert loop.cs.values[i] == held and not tc.lost  # the last reading, held within its stale time
        loop.step()
        assert loop.t < last_ok + stale_after + 0.002
    # NaN from the cycle the module is declared lost (3 unanswered polls, 150 ms) or stale (160 ms)
    assert tc.lost or loop.t > last_ok + stale_after
    while loop.t < last_ok + stale_after + 0.002:
        loop.step()
        assert math.isnan(loop.cs.values[i])
    assert "no answer from device 'tc'" in ctl.sensors.unknown["wall_temp"]
    st = status_of(ctl.snapshot())
    assert st["channel_age"]["wall_temp"] > stale_after and st["device_age"]["tc"] > stale_after
    assert any("device 'tc'" in c for c in ctl.arm_checks())
    ctl.loop.shutdown()


def test_arm_is_refused_naming_each_device_without_a_fresh_reading() -> None:
    ctl, f = _controller(("stop_answering:device=flow@0",))
    for _ in range(300):
        ctl.loop.step()
    checks = ctl.arm_checks()
    assert any(c.startswith("device 'flow' ") for c in checks), checks
    assert ctl.warming_up()  # hil run keeps the loop going (up to 1 s) before it arms
    assert not any("device 'tc'" in c or "device 'daq'" in c for c in checks)
    assert math.isnan(ctl.loop.cs.values[ctl.loop.decoder.index["mdot_ox"]])
    assert status_of(ctl.snapshot())["channel_age"]["mdot_ox"] is None
    f.silent.discard("flow")
    for _ in range(300):
        ctl.loop.step()
    assert not any("device 'flow'" in c for c in ctl.arm_checks())
    assert not ctl.warming_up()
    ctl.loop.shutdown()


def test_before_its_first_cycle_every_device_is_named() -> None:
    f = Firmware(STAND)
    ctl = Controller(STAND, {d.name: LockstepTransport(f, d.name) for d in STAND.devices}, VirtualClock(f))
    checks = ctl.arm_checks()
    for d in ("daq", "plc", "tc", "flow"):
        assert f"device {d!r} has not delivered a reading yet" in checks


# ------------------------------------------------------------------------------ blind after

def _blind_rig(rl: Redline) -> tuple[RedlineMonitor, CycleState, Supervisor]:
    stand = dataclasses.replace(STAND, redlines=(rl,))
    ev = lambda *a, **k: None  # noqa: E731
    sup = Supervisor(stand, Commands(stand), ev)
    sup.on_cycle(0.0, True, None)
    sup.arm(0.0, [])
    sup.start(0.0)
    sensors = SensorQualifier(stand, sup, ev)
    mon = RedlineMonitor(stand, sup, sensors, ev, 1000.0)
    cs = CycleState(len(stand.channels))
    cs.values = np.array([1.0 + 0.001 * i for i in range(len(stand.channels))])
    cs.values[mon.index["wall_temp"]] = 700.0
    cs.valid[:] = True
    cs.burning = True
    return mon, cs, sup


def _blind_cycle(mon: RedlineMonitor, cs: CycleState, t: float, age: float) -> None:
    """One cycle in which the TC module's last sample is ``age`` old (NaN past its stale time)."""
    i = mon.index["wall_temp"]
    cs.t = t
    cs.fresh = np.ones(len(cs.values), dtype=bool)
    cs.fresh[i] = age == 0.0
    cs.age = np.zeros(len(cs.values))
    cs.age[i] = age
    stale = age > STAND.device("tc").stale_after(1000.0)
    cs.stale = np.zeros(len(cs.values), dtype=bool)
    cs.stale[i] = stale
    cs.valid[i] = not stale
    cs.values[i] = math.nan if stale else 700.0
    mon.sensors.on_cycle(cs)
    mon.on_cycle(cs)


def test_the_blind_tolerance_is_persistence_periods_plus_the_stale_time() -> None:
    rl = next(r for r in STAND.redlines if r.name == "wall_temp")
    assert blind_after(rl, STAND, 1000.0) == pytest.approx(3 * 0.05 + (2 * 0.05 + 0.03 * 2))
    assert blind_after(dataclasses.replace(rl, blind_after_s=0.5), STAND, 1000.0) == 0.5
    pc = next(r for r in STAND.redlines if r.name == "pc_high")
    assert blind_after(pc, STAND, 1000.0) == math.inf  # the DAQ is read every cycle: its loss count decides


def test_a_thermocouple_module_late_past_its_stale_time_does_not_fault_a_burn() -> None:
    """Today's field failure: 'stale: no fresh reading from device tc' at 161-168 ms against a
    160 ms stale time FAULTed burns. The value is unknown for those ms; the redline still sees."""
    mon, cs, sup = _blind_rig(Redline("wall_temp", ("wall_temp",), max=1100.0, persistence=3))
    _blind_cycle(mon, cs, 0.0, 0.0)
    for k in range(1, 200):  # 200 ms without a sample: past the 160 ms stale time
        _blind_cycle(mon, cs, k * 1e-3, k * 1e-3)
    assert math.isnan(cs.values[mon.index["wall_temp"]])
    assert sup.state == State.RUNNING, sup.fault_reason
    assert "wall_temp" not in mon.sensors.names()  # unknown, not disqualified
    assert mon.sensors.unknown["wall_temp"] == "no answer from device 'tc' for 199 ms"
    _blind_cycle(mon, cs, 0.2, 0.0)  # the sample arrives
    assert sup.state == State.RUNNING and not mon.sensors.unknown


def test_a_redline_blind_past_its_tolerance_faults_a_burn_naming_the_device() -> None:
    mon, cs, sup = _blind_rig(Redline("wall_temp", ("wall_temp",), max=1100.0, persistence=3))
    _blind_cycle(mon, cs, 0.0, 0.0)
    k = 1
    while sup.state == State.RUNNING and k < 1000:
        _blind_cycle(mon, cs, k * 1e-3, k * 1e-3)
        k += 1
    assert sup.state == State.FAULT
    assert k - 1 == 311  # the first cycle past 310 ms
    assert "redline wall_temp is blind: no fresh sample for 311.0 ms, more than its 310 ms tolerance" in sup.fault_reason
    assert "no answer from device 'tc'" in sup.fault_reason


def test_a_stated_blind_after_is_what_the_redline_tolerates() -> None:
    mon, cs, sup = _blind_rig(Redline("wall_temp", ("wall_temp",), max=1100.0, persistence=3, blind_after_s=0.1))
    _blind_cycle(mon, cs, 0.0, 0.0)
    for k in range(1, 100):
        _blind_cycle(mon, cs, k * 1e-3, k * 1e-3)
    assert sup.state == State.RUNNING
    _blind_cycle(mon, cs, 0.101, 0.101)
    assert sup.state == State.FAULT and "more than its 100 ms tolerance" in sup.fault_reason


def test_a_late_module_leaves_gaps_but_is_neither_lost_nor_disqualified() -> None:
    """device_late:factor=1.5 — the TC module answers, then stays silent for 1.5 of its periods:
    its samples come 100 ms apart on the 20 Hz poll grid, one poll in two unanswered (never the
    3 in a row that make it lost), and nothing is disqualified."""
    ctl, f = _controller(("device_late:device=tc,factor=1.5@0.5",))
    loop = ctl.loop
    tc = next(lk for lk in loop.io.links if lk.name == "tc")
    samples = []
    while loop.t < 2.0:
        loop.step()
        if loop.t > 0.6 and tc.last_ok not in samples:
            samples.append(tc.last_ok)
    gaps = np.diff(samples)
    assert gaps.min() >= 0.075 and gaps.max() <= 0.101, gaps
    assert not tc.lost and not ctl.sensors.names()
    ctl.loop.shutdown()


def test_device_silent_names_its_device() -> None:
    ctl, f = _controller(("device_silent:device=tc@0.5",))
    while ctl.loop.t < 1.0:
        ctl.loop.step()
    assert ctl.sensors.unknown.get("wall_temp") == "no answer from device 'tc': the device is lost"
    assert "wall_temp" not in ctl.sensors.names()  # unknown, not a failed transducer: its redline judges
    assert math.isnan(ctl.loop.cs.values[ctl.loop.decoder.index["wall_temp"]])
    assert ctl.loop.io.health()["tc"] == "lost"
    ctl.loop.shutdown()


def test_a_relight_is_not_refused_for_one_missed_daq_answer_but_is_for_an_unknown_chamber() -> None:
    """The relight interlock needs Pc below relight_below. One cycle in which the DAQ did not
    answer (Pc NaN) used to refuse the relight and end the run on a busy machine; the last
    reading counts while the DAQ's held values would (its stale time, 42 ms), no longer."""
    from hil.safety.ignition import IgnitionMonitor

    sup = Supervisor(STAND, Commands(STAND), lambda *a, **k: None)
    ign = IgnitionMonitor(STAND, sup, Commands(STAND), lambda *a, **k: None)
    ign.shutdown_at, ign.purge_s = 0.0, 5.0
    cs = CycleState(len(STAND.channels))
    cs.valid[:] = True
    cs.values[:] = 0.05
    cs.pc, cs.t = 0.05, 10.0
    ign.on_cycle(cs)
    assert ign.relight_refusal(10.0) == ""
    cs.pc, cs.t = math.nan, 10.001  # the DAQ missed this cycle
    ign.on_cycle(cs)
    assert ign.relight_refusal(10.001) == ""
    stale = STAND.device("daq").stale_after(STAND.loop.rate_hz)
    cs.t = 10.0 + stale + 0.001
    ign.on_cycle(cs)
    assert ign.relight_refusal(cs.t).startswith("relight refused: pc nan is not below relight_below 0.2")


def test_a_missed_answer_of_an_every_cycle_device_is_unknown_with_its_device_named() -> None:
    ctl, f = _controller()
    for _ in range(300):
        ctl.loop.step()
    f.silent.add("daq")
    ctl.loop.step()
    i = ctl.loop.decoder.index["pc"]
    assert math.isnan(ctl.loop.cs.values[i])
    assert status_of(ctl.snapshot())["unknown"]["pc"] == "no answer from device 'daq'"
    f.silent.discard("daq")
    ctl.loop.step()
    assert "pc" not in status_of(ctl.snapshot())["unknown"] and np.isfinite(ctl.loop.cs.values[i])
    ctl.loop.shutdown()
