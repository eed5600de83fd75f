"""Hand-made mutants the fast tier let through (issue 23, "Hazards the suite does not see
today"). Each test names the mutant it kills:

- requalification during a burn (the SAFE condition in hil/safety/sensors.py removed);
- a device declared lost one poll late (``lost_after`` off by one in hil/io/standio.py);
- an unknown key inside a ``[[devices]]`` table accepted (its ``done()`` check removed);
- the valve watch's abort of a run, which only a slow test showed."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import STANDS, TQ12

from firmware_sim.firmware import Firmware
from hil.controller import Controller
from hil.cycle import CycleState
from hil.cycle.clock import VirtualClock
from hil.errors import ConfigError
from hil.runner import EXIT_ABORTED, RunOptions, run
from hil.safety import SensorQualifier, State, Supervisor
from hil.stand import load_stand, parse_stand
from hil.stand.iomap import Commands
from hil.transport.lockstep import LockstepTransport

DEVICES = STANDS / "sim_tq12_devices.toml"
pytestmark = pytest.mark.timeout(120)


def test_mutant_requalified_mid_burn_a_transducer_disqualified_in_a_burn_stays_out_until_safe() -> None:
    stand = load_stand(TQ12)
    log: list[tuple[str, dict]] = []
    sup = Supervisor(stand, Commands(stand), lambda t, kind, **f: log.append((kind, f)))
    sup.on_cycle(0.0, True, None)
    sup.arm(0.0, [])
    sup.start(0.0)
    q = SensorQualifier(stand, sup, lambda t, kind, **f: log.append((kind, f)))
    cs = CycleState(len(stand.channels))
    i = [c.name for c in stand.channels].index("pc")
    rng = np.random.default_rng(1)

    def cycle(t: float, pc_ok: bool) -> None:
        cs.t = t
        cs.values = 1.0 + rng.random(len(stand.channels))  # live, never frozen
        cs.valid = np.ones(len(stand.channels), dtype=bool)
        cs.fresh = np.ones(len(stand.channels), dtype=bool)
        cs.valid[i] = pc_ok
        q.on_cycle(cs)

    cycle(0.0, True)
    cycle(0.001, False)  # out of its valid range mid-burn
    assert q.disqualified[i]
    for k in range(100):  # reads sensibly again, still RUNNING: not believed
        cycle(0.002 + k * 1e-3, True)
    assert q.disqualified[i] and "pc" in q.names()
    assert not any(kind == "sensor_requalified" for kind, _ in log)
    sup.abort(0.2, "test")
    sup.on_cycle(10.0, True, None)  # the safing routine runs out: SAFE
    assert sup.state == State.SAFE
    cycle(10.0, True)
    assert not q.disqualified[i]  # back in SAFE, a sensible reading is trusted again
    assert ("sensor_requalified", {"channel": "pc"}) in log


def test_mutant_lost_one_poll_late_a_device_is_lost_exactly_at_lost_after() -> None:
    stand = load_stand(DEVICES)
    f = Firmware(stand)
    ctl = Controller(stand, {d.name: LockstepTransport(f, d.name) for d in stand.devices}, VirtualClock(f))
    loop = ctl.loop
    loop.start()
    for _ in range(500):
        loop.step()
    tc = next(lk for lk in loop.io.links if lk.name == "tc")
    assert tc.lost_polls == 3 and not tc.lost
    f.silent.add("tc")
    seen = []
    while not tc.lost and loop.t < 2.0:
        loop.step()
        seen.append(tc.failures)
    assert tc.lost
    assert tc.failures == 3  # lost on the third failed poll, not the fourth
    assert max(seen[:-1]) == 2  # and not before it
    loop.shutdown()


def _device_stand_text() -> str:
    return DEVICES.read_text()


def test_mutant_device_key_unchecked_a_typo_in_a_devices_table_names_file_line_and_key() -> None:
    text = _device_stand_text()
    assert text.count("timeout_s = 0.03") == 2
    text = text.replace("timeout_s = 0.03", "timout_s = 0.03", 1)  # the tc module's table
    line = next(n for n, s in enumerate(text.splitlines(), 1) if s.startswith("timout_s"))
    with pytest.raises(ConfigError) as info:
        parse_stand(text, "stand_with_typo.toml")
    e = info.value
    assert e.line == line and "timout_s" in str(e) and "unknown key" in str(e)
    assert "stand_with_typo.toml" in str(e) and "devices[2].timout_s" in str(e)
    # a nested table of a device (its heartbeat) is checked too
    bad = _device_stand_text().replace("watchdog_s = 0.25 }", "watchdog_s = 0.25, echoo = 1 }")
    with pytest.raises(ConfigError, match="unknown key 'echoo'"):
        parse_stand(bad, "stand_with_typo.toml")


def test_mutant_valve_watch_silenced_a_main_valve_that_stops_following_aborts_the_run(tmp_path) -> None:
    """The fuel main valve sticks open from mainstage on; shutdown commands it closed and its
    feedback stays at 100 %: the valve watch aborts the run, naming the valve, within its hold
    time of the close command (lockstep, one burn: a few seconds)."""
    seq = tmp_path / "one_burn.toml"
    text = (TQ12.parent.parent / "sequences" / "tq12_fault_matrix.toml").read_text()
    seq.write_text(text.split("[[steps]]\nat = \"T+9.0\"")[0])  # the first burn and its shutdown only
    stand = load_stand(TQ12)
    assert dataclasses.asdict(stand.limits)["valve_track_s"] == 0.5
    res = run(RunOptions(sequence=str(seq), stand=str(TQ12), sim="lockstep", out=str(tmp_path / "r"),
                         progress=False, faults=("valve_stuck:valve=fuel_main,at=open@5",)))
    s = res.summary
    assert res.exit_code == EXIT_ABORTED and s["outcome"] == "aborted"
    assert "valve fuel_main is not following its command" in s["abort_reason"]
    events = [json.loads(x) for x in (tmp_path / "r" / "events.jsonl").read_text().splitlines()]
    shut = next(e["t"] for e in events if e["kind"] == "shutdown_commanded")
    dis = next(e for e in events if e["kind"] == "valve_disagree")
    assert dis["valve"] == "fuel_main" and 0.5 <= dis["t"] - shut <= 0.8
    abort = next(e for e in events if e["kind"] == "abort")
    assert abort["t"] == dis["t"]  # the valve watch's own abort, in the cycle it saw the disagreement
    assert s["firmware"]["valves_closed"]
