"""The safety package piece by piece: the state machine as a table, each redline kind on its own,
and the cycle's one-producer-per-field rule watched over a whole lockstep run."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from conftest import LAB

from hil.controller import Controller
from hil.cycle import PRODUCERS, CycleState, check_order
from hil.errors import Refused
from hil.links import open_link
from hil.safety import STATE_NAMES, RedlineMonitor, SensorQualifier, State, Supervisor
from hil.stand import Redline, load_stand
from hil.stand.iomap import Commands

STAND = load_stand(LAB)


class Events:
    def __init__(self) -> None:
        self.log: list[tuple[float, str, dict[str, Any]]] = []

    def __call__(self, t: float, kind: str, **fields: Any) -> None:
        self.log.append((t, kind, fields))

    def kinds(self) -> list[str]:
        return [k for _, k, _ in self.log]


def supervisor_in(state: State) -> Supervisor:
    """A supervisor driven into ``state`` through its own transitions."""
    sup = Supervisor(STAND, Commands(STAND), Events())
    sup.on_cycle(0.0, True, None)
    if state in (State.ARMED, State.RUNNING, State.ABORTING):
        sup.arm(0.0, [])
    if state in (State.RUNNING, State.ABORTING):
        sup.start(0.0)
    if state == State.ABORTING:
        sup.abort(0.0, "test")
    if state == State.FAULT:
        sup.fault(0.0, "test fault")
        sup.on_cycle(10.0, True, None)  # let the safing routine finish
    assert sup.state == state
    return sup


# state → command → the state it leads to, or the refusal's words
TABLE: dict[State, dict[str, State | str]] = {
    State.SAFE: {"arm": State.ARMED, "start": "start needs ARMED", "abort": State.SAFE, "reset": State.SAFE,
                 "set": State.SAFE, "complete": State.SAFE},
    State.ARMED: {"arm": "arm needs SAFE", "start": State.RUNNING, "abort": State.ABORTING,
                  "reset": "reset is only for a latched fault", "set": "only accepted in SAFE",
                  "complete": State.ARMED},
    State.RUNNING: {"arm": "arm needs SAFE", "start": "start needs ARMED", "abort": State.ABORTING,
                    "reset": "reset is only for a latched fault", "set": "only accepted in SAFE",
                    "complete": State.SAFE},
    State.ABORTING: {"arm": "arm needs SAFE", "start": "start needs ARMED", "abort": State.ABORTING,
                     "reset": "reset is only for a latched fault", "set": "only accepted in SAFE",
                     "complete": State.ABORTING},
    State.FAULT: {"arm": "arm needs SAFE", "start": "start needs ARMED", "abort": State.FAULT, "reset": State.SAFE,
                  "set": "only accepted in SAFE", "complete": State.FAULT},
}


def test_the_table_covers_every_state_and_command() -> None:
    assert set(TABLE) == set(State) and tuple(s.name for s in State) == STATE_NAMES
    assert all(set(row) == {"arm", "start", "abort", "reset", "set", "complete"} for row in TABLE.values())


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.name)
@pytest.mark.parametrize("cmd", ["arm", "start", "abort", "reset", "set", "complete"])
def test_state_machine(state: State, cmd: str) -> None:
    sup = supervisor_in(state)
    t = 20.0
    act = {"arm": lambda: sup.arm(t, []), "start": lambda: sup.start(t), "abort": lambda: sup.abort(t, "op"),
           "reset": lambda: sup.reset(t), "set": lambda: sup.manual_set(t, "purge", 1.0),
           "complete": lambda: sup.complete(t)}[cmd]
    want = TABLE[state][cmd]
    if isinstance(want, State):
        act()
        assert sup.state == want
    else:
        with pytest.raises(Refused, match=want):
            act()
        assert sup.state == state


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.name)
def test_abort_is_accepted_in_every_state_and_starts_safing(state: State) -> None:
    sup = supervisor_in(state)
    sup.commands.set("ox_main", 50.0)
    sup.abort(30.0, "operator")
    assert sup.safing.active or sup.safing.done
    assert sup.commands.get("ox_main") == 0.0  # the first safing step is commanded at once


def test_arm_is_refused_with_every_failing_check() -> None:
    sup = supervisor_in(State.SAFE)
    with pytest.raises(Refused, match="cannot arm: sensor a; sensor b"):
        sup.arm(1.0, ["sensor a", "sensor b"])


# ------------------------------------------------------------------------------ redlines, one kind at a time

def rig(*redlines: Redline, state: State = State.RUNNING) -> tuple[RedlineMonitor, SensorQualifier, CycleState,
                                                                    Supervisor, Events]:
    stand = dataclasses.replace(STAND, redlines=redlines)
    ev = Events()
    sup = Supervisor(stand, Commands(stand), ev)
    sup.on_cycle(0.0, True, None)
    if state in (State.ARMED, State.RUNNING):
        sup.arm(0.0, [])
    if state == State.RUNNING:
        sup.start(0.0)
    sensors = SensorQualifier(stand, sup, ev)
    mon = RedlineMonitor(stand, sup, sensors, ev, 1000.0)
    cs = CycleState(len(stand.channels))
    cs.values = np.array([1.0 + 0.001 * i for i in range(len(stand.channels))])  # not frozen: varied below
    cs.valid[:] = True
    return mon, sensors, cs, sup, ev


def cycle(mon: RedlineMonitor, sensors: SensorQualifier, cs: CycleState, t: float, fresh: bool = True,
          **values: float) -> None:
    cs.t = t
    cs.fresh = np.full(len(cs.values), fresh)  # every channel sampled this cycle (unless a slow device's)
    cs.values = cs.values + (1e-6 if fresh else 0.0)  # a live sensor is never exactly still
    for name, v in values.items():
        cs.values[mon.index[name]] = v
    sensors.on_cycle(cs)
    mon.on_cycle(cs)


def test_persistence_counts_consecutive_violations() -> None:
    mon, sensors, cs, sup, _ = rig(Redline("hot", ("wall_temp",), max=500.0, persistence=5))
    for k in range(4):
        cycle(mon, sensors, cs, k * 1e-3, wall_temp=600.0)
    cycle(mon, sensors, cs, 0.004, wall_temp=400.0)  # one good sample resets the count
    for k in range(4):
        cycle(mon, sensors, cs, 0.005 + k * 1e-3, wall_temp=600.0)
    assert sup.state == State.RUNNING
    cycle(mon, sensors, cs, 0.009, wall_temp=600.0)
    assert sup.state == State.ABORTING and "redline hot: 600 > max 500" in sup.abort_reason



def test_a_held_value_is_one_sample_not_one_per_cycle() -> None:
    """A slow device's value is held between its reads: persistence counts samples, and a rate
    is taken over the time between samples, not over one loop period."""
    mon, sensors, cs, sup, _ = rig(Redline("hot", ("wall_temp",), max=500.0, persistence=3),
                                   Redline("ramp", ("wall_temp",), max_rate=1000.0, persistence=1))
    cycle(mon, sensors, cs, 0.0, wall_temp=400.0)
    cycle(mon, sensors, cs, 0.05, wall_temp=600.0)  # +200 K in 50 ms = 4000 K/s > 1000 K/s
    assert sup.state == State.ABORTING and "ramp" in sup.abort_reason
    mon, sensors, cs, sup, _ = rig(Redline("hot", ("wall_temp",), max=500.0, persistence=3),
                                   Redline("ramp", ("wall_temp",), max_rate=10000.0, persistence=1))
    cycle(mon, sensors, cs, 0.0, wall_temp=400.0)
    cycle(mon, sensors, cs, 0.05, wall_temp=600.0)  # 4000 K/s over the 50 ms between samples: no rate trip
    for k in range(20):  # held for 20 cycles: still one sample
        cycle(mon, sensors, cs, 0.051 + k * 1e-3, fresh=False)
    assert sup.state == State.RUNNING
    cycle(mon, sensors, cs, 0.1, wall_temp=600.0)
    assert sup.state == State.RUNNING
    cycle(mon, sensors, cs, 0.15, wall_temp=600.0)
    assert sup.state == State.ABORTING and "redline hot" in sup.abort_reason

def test_command_relative_redline_waits_for_the_setpoint_to_settle() -> None:
    mon, sensors, cs, sup, _ = rig(Redline("pc_low", ("pc",), min_frac=0.8, settle_s=0.5, persistence=1))
    cs.pc_setpoint, cs.pc_setpoint_moved_at = 2.0, 1.0
    for k in range(40):
        cycle(mon, sensors, cs, 1.0 + k * 0.01, pc=1.0 + 0.001 * k)  # 50 % of the command, but settling
    assert sup.state == State.RUNNING
    cycle(mon, sensors, cs, 1.5, pc=1.0)
    assert sup.state == State.ABORTING and "< 0.8 × command 2" in sup.abort_reason


def test_rate_redline() -> None:
    mon, sensors, cs, sup, _ = rig(Redline("pc_rate", ("pc",), max_rate=100.0, persistence=1))
    cycle(mon, sensors, cs, 0.000, pc=1.0)
    cycle(mon, sensors, cs, 0.001, pc=1.05)  # 50 MPa/s
    assert sup.state == State.RUNNING
    cycle(mon, sensors, cs, 0.002, pc=1.3)  # 250 MPa/s
    assert sup.state == State.ABORTING and "rate 250" in sup.abort_reason


def test_an_always_on_stand_redline_cannot_be_disabled_but_a_gated_one_can() -> None:
    mon, sensors, cs, sup, _ = rig(Redline("hot", ("wall_temp",), max=500.0, persistence=1),
                                   Redline("gated", ("pc",), max=1.5, persistence=1, enabled=False))
    mon.enable(("gated",))
    mon.disable(("hot", "gated"))
    assert mon.enabled == {"hot"}
    cycle(mon, sensors, cs, 0.0, wall_temp=900.0, pc=3.0)
    assert sup.state == State.ABORTING and "redline hot" in sup.abort_reason


def test_a_disqualified_sensor_is_out_of_the_vote_and_losing_every_one_faults_a_burn() -> None:
    mon, sensors, cs, sup, _ = rig(Redline("pc_hi", ("pc", "p_inj_ox"), max=3.0, persistence=1))
    cs.burning = True
    i = mon.index["pc"]
    cs.valid[i] = False  # out of its valid range: disqualified, its reading ignored
    cycle(mon, sensors, cs, 0.0, pc=50.0, p_inj_ox=2.0)
    assert sensors.disqualified[i] and sup.state == State.RUNNING
    cs.valid[mon.index["p_inj_ox"]] = False
    cycle(mon, sensors, cs, 0.001, pc=50.0, p_inj_ox=50.0)
    assert sup.state == State.FAULT and "every sensor it watches is disqualified" in sup.fault_reason


def test_a_redline_outside_a_run_is_reported_not_acted_on() -> None:
    mon, sensors, cs, sup, ev = rig(Redline("hot", ("wall_temp",), max=500.0, persistence=2), state=State.SAFE)
    for k in range(3):
        cycle(mon, sensors, cs, k * 1e-3, wall_temp=900.0)
    assert sup.state == State.SAFE and ev.kinds().count("redline_outside_run") == 1


def test_sensor_disqualification_persists_across_sequence_loads(tmp_path) -> None:
    """The monitor is the controller's, not the sequence's: loading another sequence must not
    forget that a transducer froze (it was rebuilt on every load before)."""
    link = open_link(STAND, str(LAB), "lockstep")
    ctl = Controller(STAND, link.transport, link.clock)
    ctl.loop.start()
    for _ in range(50):
        ctl.loop.step()
    ctl.sensors.disqualified[0] = True
    ctl.sensors.why[STAND.channels[0].name] = "test"
    ctl.load(str(LAB.parent.parent / "sequences" / "lab_relight.toml"))
    assert ctl.sensors.disqualified[0]
    assert any("disqualified sensors" in c for c in ctl.arm_checks())
    ctl.loop.shutdown()


# ------------------------------------------------------------------------------ one producer per field

def test_every_field_of_the_cycle_state_has_one_producer() -> None:
    fields = {f.name for f in dataclasses.fields(CycleState)} - {"n_channels"}
    assert fields == set(PRODUCERS)


def test_stage_order_is_enforced() -> None:
    class S:
        def __init__(self, name: str) -> None:
            self.name = name

        def on_cycle(self, cs: CycleState) -> None:
            pass

    check_order([S("sensors"), S("sequence"), S("redlines")])
    with pytest.raises(ValueError, match="out of order"):
        check_order([S("redlines"), S("sensors")])
    with pytest.raises(ValueError, match="unknown cycle stage"):
        check_order([S("telepathy")])


def _snapshot(cs: CycleState) -> dict[str, Any]:
    out = {}
    for name in PRODUCERS:
        v = getattr(cs, name)
        out[name] = v.copy() if isinstance(v, np.ndarray) else v
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a is not None and b is not None and np.array_equal(a, b, equal_nan=True)
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def test_each_stage_writes_only_its_own_fields_over_a_whole_run(tmp_path) -> None:
    """Wrap every stage of a real lockstep relight run and diff the cycle state around it."""
    link = open_link(STAND, str(LAB), "lockstep")
    ctl = Controller(STAND, link.transport, link.clock)
    written: dict[str, set[str]] = {}

    class Watch:
        def __init__(self, stage: Any) -> None:
            self.stage, self.name = stage, stage.name

        def on_cycle(self, cs: CycleState) -> None:
            before = _snapshot(cs)
            self.stage.on_cycle(cs)
            after = _snapshot(cs)
            written.setdefault(self.name, set()).update(k for k in PRODUCERS if not _same(before[k], after[k]))

    ctl.loop.stages = [Watch(s) for s in ctl.loop.stages]
    loop = ctl.loop
    loop.start()
    while loop.t < 0.2:
        loop.step()
    ctl.load(str(LAB.parent.parent / "sequences" / "lab_relight.toml"))
    ctl.arm()
    ctl.start()
    while ctl.sequencer.state == "running" and loop.t < 60:
        loop.step()
    loop.shutdown()
    assert ctl.sequencer.state == "done", ctl.supervisor.abort_reason
    for stage, fields in written.items():
        for f in fields:
            assert PRODUCERS[f] == stage, f"stage {stage} wrote {f}, whose producer is {PRODUCERS[f]}"
    # and the stages did produce what they own
    assert {"disqualified", "pc"} & written["sensors"] and "burning" in written["ignition"]
    assert "step_index" in written["sequence"] and "pc_setpoint" in written["throttle"]
