"""Tests that each name a hazard: every one was written against a hand-made safety mutant of the
code that the rest of the suite let through."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import LAB, ROOT, TQ12

from hil.controller import Controller
from hil.cycle import CycleState
from hil.errors import ConfigError, SequenceInvalid
from hil.links import open_link
from hil.record.recorder import read_run
from hil.runner import EXIT_OK, RunOptions, run
from hil.safety import IgnitionMonitor, RedlineMonitor, SensorQualifier, State, Supervisor
from hil.sequence import parse_sequence
from hil.sequence.engine import Sequencer
from hil.sequence.expr import compile_expr
from hil.service.protocol import CommandProtocol
from hil.service.server import Service
from hil.stand import load_stand, parse_stand
from hil.stand.iomap import Commands

SEQ = ROOT / "configs" / "sequences"
LAB_STAND = load_stand(LAB)
assert LAB_STAND.ignition is not None
# the lab stand's ignition and relight rules as they were before the staged start (issue 24):
# the tests of the relight interlocks and the ignition window below use direct starts; the staged
# start has its own (tests/test_staged_start.py)
DIRECT_STAND = dataclasses.replace(LAB_STAND, ignition=dataclasses.replace(
    LAB_STAND.ignition, confirm_above=1.0, max_open_before_confirm=(), stage_window_s=None, igniter_channel=None,
    igniter_proven_above=math.nan, hard_start_rate=None, hard_start_above=None))


# ------------------------------------------------------------------------------ the trusted Pc

@pytest.mark.timeout(300)
def test_a_frozen_pc_transducer_across_a_throttle_step_is_not_trusted(tmp_path) -> None:
    """Pc transducer A freezes at 10 MPa during the 100 % plateau; the sequence then throttles to
    6 MPa. Trusting the frozen one (the median of A and B) would drive the real chamber pressure
    far below the command; with A disqualified the loop follows B."""
    res = run(RunOptions(sequence=str(SEQ / "tq12_throttle.toml"), stand=str(TQ12), sim="lockstep",
                         out=str(tmp_path / "run"), faults=("pc_frozen@5.0",), progress=False))
    assert res.exit_code == EXIT_OK, res.summary["abort_reason"]
    assert "pc" in res.summary["disqualified_sensors"]
    t = read_run(res.run_dir).table
    step = np.array(t.column("step").to_pylist())
    pc_b = t.column("pc_b").to_numpy()
    sp = t.column("pc_setpoint").to_numpy()
    plateau = np.flatnonzero((sp == 6.0) & (step >= 0))
    late = plateau[len(plateau) // 2:]  # the settled second half of the 60 % plateau
    assert len(late) > 1000
    assert np.median(pc_b[late]) == pytest.approx(6.0, rel=0.03)


# ------------------------------------------------------------------------------ unknown keys, every nested table

LAB_TEXT = LAB.read_text()
TQ12_TEXT = TQ12.read_text()


def _after_header(text: str, header: str, occurrence: int = 1) -> tuple[str, int]:
    lines = text.splitlines()
    seen = 0
    for i, line in enumerate(lines):
        if line.strip() == header:
            seen += 1
            if seen == occurrence:
                lines.insert(i + 1, "persistance = 50")
                return "\n".join(lines) + "\n", i + 2
    raise AssertionError(header)


NESTED = ["[stand]", "[sim]", "[transport]", "[loop]", "[firmware]", "[limits]", "[[channels]]", "[[actuators]]",
          "[[redlines]]", "[throttle]", "[ignition]", "[safing]"]


@pytest.mark.parametrize("header", NESTED)
def test_an_unknown_key_in_any_table_is_refused_with_its_line(header) -> None:
    """`persistance = 50` in a redline silently became the default 3 when the nested check was gone."""
    text, line = _after_header(TQ12_TEXT, header)
    with pytest.raises(ConfigError, match="unknown key 'persistance'") as info:
        parse_stand(text, "typo.toml")
    assert info.value.line == line


@pytest.mark.parametrize("old, new", [
    ('calibration = { kind = "linear", gain = 0.0000763, offset = -0.5 }    # -0.5 .. 4.5 MPa',
     'calibration = { kind = "linear", gain = 0.0000763, offset = -0.5, persistance = 50 }'),
    ("{ at = 0.05, set = { fuel_main = 0, purge = 1 } },", "{ at = 0.05, persistance = 50, set = { fuel_main = 0, purge = 1 } },"),
])
def test_an_unknown_key_in_an_inline_table_is_refused(old, new) -> None:
    assert old in LAB_TEXT
    text = LAB_TEXT.replace(old, new, 1)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "persistance" in s)
    with pytest.raises(ConfigError, match="unknown key 'persistance'") as info:
        parse_stand(text, "typo.toml")
    assert info.value.line == line


# ------------------------------------------------------------------------------ ignition confirmation, every burn

def two_burns(second_wait: str | None = 'wait = "pc > 1.0"\ntimeout = 0.3\non_timeout = "abort"') -> str:
    steps = [("T-1.0", "set = { purge = 1 }"), ("T0", "set = { purge = 0, igniter = 1 }"),
             ("T+0.3", "set = { ox_main = 50 }"), ("T+0.35", "set = { fuel_main = 50 }"),
             ("T+0.35", 'wait = "pc > 1.0"\ntimeout = 0.3\non_timeout = "abort"'), ("T+0.5", "set = { igniter = 0 }"),
             ("T+2.0", "set = { ox_main = 0 }"), ("T+2.05", "set = { fuel_main = 0, purge = 1 }"),
             ("T+6.0", 'wait = "pc < 0.2"\ntimeout = 1.0\non_timeout = "abort"'),
             ("T+6.0", "set = { purge = 0, igniter = 1 }"), ("T+6.3", "set = { ox_main = 50 }"),
             ("T+6.35", "set = { fuel_main = 50 }"), ("T+6.35", second_wait), ("T+6.5", "set = { igniter = 0 }"),
             ("T+8.0", "set = { ox_main = 0 }"), ("T+8.05", "set = { fuel_main = 0, purge = 1 }"),
             ("T+10.0", "set = { purge = 0 }")]
    body = "".join(f'\n[[steps]]\nat = "{at}"\n{what}\n' for at, what in steps if what)
    return '[sequence]\nname = "two burns"\nstand = "sim-lab"\n' + body


def test_two_burns_each_confirmed_is_valid() -> None:
    assert len(parse_sequence(two_burns(), DIRECT_STAND, "two.toml").steps) == 17


@pytest.mark.parametrize("second, why", [
    (None, "the second burn has no confirmation at all"),
    ('wait = "pc > 1.0"\ntimeout = 0.3\non_timeout = "continue"', "a timeout that carries on unlit"),
    ('wait = "pc > 1.0"\ntimeout = 0.5\non_timeout = "abort"', "a timeout longer than the stand's 0.3 s window"),
])
def test_every_burn_needs_an_ignition_confirmation_that_aborts_within_the_window(second, why) -> None:
    with pytest.raises(SequenceInvalid) as info:
        parse_sequence(two_burns(second), DIRECT_STAND, "two.toml")
    assert any("burn starting at T+6.35 has no ignition confirmation" in str(e) for e in info.value.errors), why


# ------------------------------------------------------------------------------ the ignition monitor at run time

def ignition_rig() -> tuple[IgnitionMonitor, Commands, Supervisor, CycleState]:
    commands = Commands(DIRECT_STAND)
    sup = Supervisor(DIRECT_STAND, commands, lambda *a, **k: None)
    sup.on_cycle(0.0, True, None)
    sup.arm(0.0, [])
    sup.start(0.0)
    mon = IgnitionMonitor(DIRECT_STAND, sup, commands, lambda *a, **k: None)
    cs = CycleState(len(DIRECT_STAND.channels))
    cs.valid[:] = True
    return mon, commands, sup, cs


def tick(mon: IgnitionMonitor, cs: CycleState, t: float, pc: float) -> None:
    cs.t, cs.pc = t, pc
    mon.on_cycle(cs)


def test_ignition_is_confirmed_from_the_stand_channel_and_a_late_light_is_aborted() -> None:
    mon, cmd, sup, cs = ignition_rig()
    cmd.set("igniter", 1)
    cmd.set("ox_main", 50)
    cmd.set("fuel_main", 50)
    tick(mon, cs, 1.0, 0.1)
    tick(mon, cs, 1.2, 0.5)
    assert not cs.burning and sup.state == State.RUNNING
    tick(mon, cs, 1.31, 0.6)  # 0.31 s after opening, window 0.3 s
    assert sup.state == State.ABORTING and "ignition not confirmed" in sup.abort_reason


def test_flame_out_aborts_the_run() -> None:
    mon, cmd, sup, cs = ignition_rig()
    for name, v in (("igniter", 1), ("ox_main", 50), ("fuel_main", 50)):
        cmd.set(name, v)
    tick(mon, cs, 1.0, 0.1)
    tick(mon, cs, 1.05, 1.5)
    assert cs.burning
    tick(mon, cs, 2.0, 0.05)
    assert sup.state == State.RUNNING  # below relight_below for less than flameout_s
    tick(mon, cs, 2.03, 0.05)
    assert sup.state == State.ABORTING and "flame-out" in sup.abort_reason and not cs.burning


@pytest.mark.parametrize("pc, off_s, purge_s, refused", [
    (0.1, 3.0, 1.0, ""),
    (0.5, 3.0, 1.0, "is not below relight_below 0.2"),
    (float("nan"), 3.0, 1.0, "is not below relight_below 0.2"),
    (0.1, 0.5, 0.5, "min_off_s is 1 s"),
    (0.1, 3.0, 0.2, "min_purge_s is 0.5 s"),
])
def test_relight_interlocks_at_run_time(pc, off_s, purge_s, refused) -> None:
    mon, cmd, sup, cs = ignition_rig()
    for name, v in (("igniter", 1), ("ox_main", 50), ("fuel_main", 50)):
        cmd.set(name, v)
    tick(mon, cs, 1.0, 0.1)
    tick(mon, cs, 1.05, 1.5)
    cmd.set("ox_main", 0)
    cmd.set("fuel_main", 0)
    tick(mon, cs, 2.0, 1.0)  # shutdown at t = 2.0
    cmd.set("purge", 1)
    tick(mon, cs, 2.0 + purge_s, 0.1)
    cmd.set("purge", 0)
    tick(mon, cs, 2.0 + off_s, pc)
    why = mon.relight_refusal(2.0 + off_s)
    if not refused:
        assert why == ""
        return
    assert refused in why
    # the sequencer does not command a step that would open the propellants, it aborts instead
    quiet = lambda *a, **k: None  # noqa: E731 - an event sink that keeps nothing
    redlines = RedlineMonitor(DIRECT_STAND, sup, SensorQualifier(DIRECT_STAND, sup, quiet), quiet, 1000.0)
    seq = Sequencer(sup, cmd, quiet, redlines, mon, None)
    seq.i = 1
    step = parse_sequence(two_burns(), DIRECT_STAND, "two.toml").steps[11]  # T+6.35: fuel_main = 50 (ox is open)
    cmd.set("ox_main", 50)
    seq._execute(2.0 + off_s, step)  # noqa: SLF001 - the unit under test
    assert cmd.get("fuel_main") == 0.0
    assert sup.state == State.ABORTING and refused in sup.abort_reason


# ------------------------------------------------------------------------------ writes and binds

def test_writes_never_bridge_the_gap_between_two_actuators_registers() -> None:
    """A vendor's register between two of our outputs must never be written, not even with the
    value it already has (all shipped stands are contiguous, so nothing else shows this)."""
    text = """
[stand]
name = "gap"
[transport]
kind = "tcp"
[[channels]]
name = "pc"
register = 0
type = "u16"
units = "MPa"
[[actuators]]
name = "ox_main"
kind = "valve"
register = 10
propellant = "ox"
[[actuators]]
name = "fuel_main"
kind = "valve"
register = 12
propellant = "fuel"
[safing]
steps = [{ at = 0.0, set = { ox_main = 0, fuel_main = 0 } }]
"""
    cmd = Commands(parse_stand(text, "gap.toml"))
    cmd.set("ox_main", 1)
    cmd.set("fuel_main", 1)
    written = {w.address + k for w in cmd.pending_writes() for k in range(len(w.values))}
    assert written == {10, 12}


def test_telemetry_pub_on_a_network_address_without_keys_is_refused() -> None:
    link = open_link(LAB_STAND, str(LAB), "lockstep")
    with pytest.raises(ConfigError, match="refusing to bind tcp://0.0.0.0"):
        Controller(LAB_STAND, link.transport, link.clock,
                   link=lambda c: Service(c, rep="tcp://127.0.0.1:0", pub="tcp://0.0.0.0:0"))


# ------------------------------------------------------------------------------ aborts in lockstep

def running_controller() -> Controller:
    link = open_link(LAB_STAND, str(LAB), "lockstep")
    ctl = Controller(LAB_STAND, link.transport, link.clock)
    ctl.firmware = link.firmware  # type: ignore[attr-defined]
    ctl.loop.start()
    while ctl.loop.t < 0.2:
        ctl.loop.step()
    ctl.load(str(SEQ / "lab_relight.toml"))
    ctl.arm()
    return ctl


def run_until(ctl: Controller, t: float, every=None) -> None:
    while ctl.loop.t < t:
        ctl.loop.step()
        if every:
            every(ctl)


def test_operator_abort_while_running_safes_the_plant() -> None:
    ctl = running_controller()
    ctl.start()
    run_until(ctl, 2.5)  # mid-burn
    assert ctl.loop.cs.burning
    assert CommandProtocol(ctl).handle({"cmd": "abort", "reason": "operator abort"})["ok"]
    assert ctl.supervisor.state == State.ABORTING
    run_until(ctl, 6.0)
    fw = ctl.firmware  # type: ignore[attr-defined]
    assert ctl.supervisor.state == State.SAFE and ctl.supervisor.abort_reason == "operator abort"
    assert fw.engine.pos_ox == 0 and fw.engine.pos_fuel == 0 and not fw.engine.burning


@pytest.mark.parametrize("pings", [True, False])
def test_lost_client_during_a_burn_aborts_unless_it_keeps_talking(pings) -> None:
    ctl = running_controller()
    assert CommandProtocol(ctl).handle({"cmd": "start", "watchdog_s": 0.5, "client": "console-1"})["ok"]
    last = [0.0]

    def ping(c: Controller) -> None:
        if pings and c.loop.t - last[0] >= 0.2:
            last[0] = c.loop.t
            CommandProtocol(c).handle({"cmd": "ping", "client": "console-1"})

    run_until(ctl, 3.0, ping)
    if pings:
        assert ctl.supervisor.state == State.RUNNING
    else:
        assert "lost client during a burn: no word from console-1 for 0.5 s" in ctl.supervisor.abort_reason


# ------------------------------------------------------------------------------ missing data in conditions

@pytest.mark.parametrize("src", ["pc != 0", "not pc < 1.0", "not pc > 1.0", "pc == pc", "not (pc != 0)",
                                 "pc > 1 or pc <= 1", "not (pc > 1 and t > 0)", "pc + 1 > 0", "-pc < 5"])
def test_missing_data_never_satisfies_any_condition(src) -> None:
    assert not compile_expr(src).holds({"pc": math.nan, "t": 1.0})


@pytest.mark.parametrize("src, holds", [("pc > 1 or t > 0", True), ("pc > 1 and t < 0", False),
                                        ("not (pc > 1 and t < 0)", True)])
def test_a_known_side_still_decides_and_or(src, holds) -> None:
    assert compile_expr(src).holds({"pc": math.nan, "t": 1.0}) is holds


# ------------------------------------------------------------------------------ reset, authority, checkout

@pytest.mark.parametrize("hazard", ["ox_main", "fuel_main", "igniter"])
def test_a_fault_is_not_reset_while_a_propellant_valve_or_the_igniter_is_commanded_open(hazard) -> None:
    """Supervisor.reset's open_hazards() refusal: leaving FAULT with propellant commanded to flow
    (or the igniter on) would hand a live engine back to the operator."""
    from hil.errors import Refused

    events: list = []
    commands = Commands(LAB_STAND)
    sup = Supervisor(LAB_STAND, commands, lambda t, kind, **f: events.append(kind))
    sup.fault(0.0, "communication lost")
    sup.safing.apply(10.0, commands)  # the safing sequence has run to its end
    assert not sup.safing.active and not sup.open_hazards()
    commands.set(hazard, LAB_STAND.actuator(hazard).range[1])  # a write after safing (e.g. a manual command)
    with pytest.raises(Refused, match=f"cannot reset: {hazard} is still commanded open"):
        sup.reset(11.0)
    assert sup.state == State.FAULT and "reset" not in events
    commands.set(hazard, 0)
    sup.reset(12.0)
    assert sup.state == State.SAFE


def test_reset_through_the_controller_is_refused_with_a_valve_opened_by_hand() -> None:
    link = open_link(LAB_STAND, str(LAB), "lockstep")
    ctl = Controller(LAB_STAND, link.transport, link.clock)
    ctl.loop.start()
    run_until(ctl, 0.3)
    assert CommandProtocol(ctl).handle({"cmd": "set", "name": "ox_main", "value": 20, "client": "c"})["ok"]  # SAFE: manual outputs
    reply = CommandProtocol(ctl).handle({"cmd": "reset", "client": "c"})
    assert not reply["ok"] and reply["refused"] == "cannot reset: ox_main is still commanded open"
    link.close()


def test_command_authority_is_taken_over_only_after_ten_seconds_of_silence() -> None:
    """docs/safety.md: the holder silent for 10 s may be taken over from. The literal 10 s, not the
    constant: a holder quiet for 9.5 s keeps it, one quiet for 10 s loses it."""
    from hil.controller.authority import Authority
    from hil.errors import Refused

    auth = Authority(lambda t, kind, **f: None)
    auth.check(100.0, "lead", "test conductor", "arm")
    with pytest.raises(Refused, match="heard from 9.5 s ago"):
        auth.handle(109.5, "other", "propulsion", "take_authority", {})
    assert auth.status()["holder"] == "test conductor"
    auth.handle(110.0, "other", "propulsion", "take_authority", {})
    assert auth.status()["holder"] == "propulsion"


def test_a_console_that_pings_as_the_console_does_keeps_authority_through_a_long_count() -> None:
    """The console pings when it has sent nothing for 0.5 s, looking every 0.1 s (gui/client.py):
    its holder is heard every 0.6 s at worst. Through a 20-minute count another console trying
    to take over every 0.1 s is refused every time."""
    from hil.controller.authority import Authority
    from hil.errors import Refused

    auth = Authority(lambda t, kind, **f: None)
    auth.check(0.0, "lead", "test conductor", "start")
    t, next_ping, taken = 0.0, 0.6, 0
    while t < 1200.0:
        t = round(t + 0.1, 1)
        try:  # the other console tries every 0.1 s, the moment before each ping too
            auth.handle(t, "other", "propulsion", "take_authority", {})
            taken += 1
        except Refused:
            pass
        if t >= next_ping:
            auth.check(t, "lead", "test conductor", "ping")
            next_ping = round(t + 0.6, 1)
    assert taken == 0 and auth.status()["holder"] == "test conductor"


def test_valve_timing_is_refused_with_an_isolation_valve_merely_commanded_open(tmp_path) -> None:
    """Not stuck, not yet moving: an isolation valve commanded open in SAFE refuses the valve
    timing (cycling the mains with the run valve opening would flow propellant), both the cycle
    it is commanded and once it has opened."""
    import shutil

    from hil.checkout.cli import _Session
    from hil.errors import Refused

    d = tmp_path / "stands"
    shutil.copytree(ROOT / "configs" / "stands", d)
    stand = d / "sim_tq12.toml"
    session = _Session(stand, load_stand(stand), "lockstep", tmp_path / "r", None, ())
    ctl = session.ctl
    try:
        session.run_for(1.0)  # the isolation valves close after start-up
        ctl.set_output("ox_iso", 1)
        assert ctl.loop.value("ox_iso_pos") < 5.0  # commanded, not moved yet
        with pytest.raises(Refused, match=r"isolation valves must be closed .*ox_iso \(command 1"):
            session.desk.begin("valves")
        session.run_for(1.0)
        assert ctl.loop.value("ox_iso_pos") > 95.0  # a healthy valve, open as commanded
        with pytest.raises(Refused, match="isolation valves must be closed"):
            session.desk.begin("valves")
        assert session.desk.job is None and ctl.commands.get("ox_main") == 0  # nothing moved
    finally:
        ctl.shutdown("test done")
        session.recorder.close()
        session.link.close()
