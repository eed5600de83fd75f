"""The staged start the stand enforces (issue 24; hil/safety/start.py, hil/sequence/burns.py):
the ``[ignition]`` keys validated with their line; ``hil check`` refusing a start that opens a
chamber propellant valve beyond the ignition stage or before the igniter is proven, with the
step's line; the same rules at run time whatever path the command came from (a sequence step,
a command written by anything else in the loop, a manual setting), taken back before the wire;
and unlit flow is a burn attempt: both propellants open with no igniter abort within the window."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import LAB, ROOT

from firmware_sim.firmware import Firmware
from hil.controller import Controller
from hil.cycle import CycleState
from hil.cycle.clock import VirtualClock
from hil.errors import ConfigError, Refused, SequenceInvalid
from hil.record.recorder import read_run
from hil.runner import EXIT_ABORTED, RunOptions, run
from hil.safety import IgnitionMonitor, RedlineMonitor, SensorQualifier, StartInterlock, State, Supervisor
from hil.sequence import load_sequence
from hil.sequence.engine import Sequencer
from hil.stand import load_stand
from hil.stand.iomap import Commands
from hil.transport.lockstep import LockstepTransport

SEQ = ROOT / "configs" / "sequences"
LAB_RELIGHT = SEQ / "lab_relight.toml"
IGN_TAIL = "min_purge_s = 0.5\n"
STAGED_KEYS = ("max_open_before_confirm", "stage_window_s", "igniter_channel", "igniter_proven_above",
               "hard_start_rate", "hard_start_above")
# the lab relight's start before issue 24: straight to 50 % on an igniter nobody proved
DIRECT_START = (
    '  { at = 0.1, wait = "p_ign > 0.4", timeout = 0.1, on_timeout = "abort", label = "igniter proven" },\n'
    '  { at = 0.3, set = { ox_main = 6 }, label = "LOX lead" },\n'
    '  { at = 0.35, set = { fuel_main = 6 }, label = "fuel open" },\n'
    '  { at = 0.35, wait = "pc > 0.3", timeout = 0.1, on_timeout = "abort", label = "ignition confirmed" },\n'
    '  { at = 0.35, set = { ox_main = 50, fuel_main = 50 }, label = "ramp to mainstage" },\n',
    '  { at = 0.3, set = { ox_main = 50 }, label = "LOX lead" },\n'
    '  { at = 0.35, set = { fuel_main = 50 }, label = "fuel open" },\n'
    '  { at = 0.35, wait = "pc > 0.3", timeout = 0.3, on_timeout = "abort", label = "ignition confirmed" },\n')
pytestmark = pytest.mark.timeout(180)


def staged_stand(tmp_path: Path, extra: str, name: str = "staged_lab.toml") -> Path:
    """sim_lab.toml with its staged-start keys replaced by ``extra`` lines in its [ignition] table."""
    lines = LAB.read_text().splitlines(keepends=True)
    text = "".join(ln for ln in lines if not ln.startswith(STAGED_KEYS))
    assert text.count(IGN_TAIL) == 1 and len(lines) - len(text.splitlines()) == len(STAGED_KEYS)
    path = tmp_path / name
    path.write_text(text.replace(IGN_TAIL, IGN_TAIL + extra))
    return path


def line_of(text: str, needle: str) -> int:
    return next(i + 1 for i, ln in enumerate(text.splitlines()) if needle in ln)


def direct_start(tmp_path: Path) -> tuple[Path, str]:
    """The lab relight with its start as it was before the staged start."""
    text = LAB_RELIGHT.read_text()
    assert DIRECT_START[0] in text
    direct = text.replace(*DIRECT_START)
    path = tmp_path / "direct.toml"
    path.write_text(direct)
    return path, direct


# ------------------------------------------------------------------------------ the stand's keys

@pytest.mark.parametrize("extra, key, why", [
    ('max_open_before_confirm = { ox_main = 15, purge = 10 }\n', "max_open_before_confirm",
     "'purge' is not a chamber propellant valve"),
    ('max_open_before_confirm = { ox_main = 15 }\n', "max_open_before_confirm", "no ignition-stage opening for fuel_main"),
    ('max_open_before_confirm = 100\n', "max_open_before_confirm", "must be a number in [0, 100)"),
    ('stage_window_s = -1\n', "stage_window_s", "must be a finite number > 0"),
    ('igniter_channel = "nope"\nigniter_proven_above = 1\n', "igniter_channel", "names no channel"),
    ('igniter_channel = "p_purge"\n', "igniter_channel", "needs igniter_proven_above"),
    ('igniter_proven_above = 0.5\n', "igniter_proven_above", "needs an igniter_channel"),
    # a level the channel's valid range does not reach: the check could never act
    ('hard_start_above = 4.2\n', "hard_start_above", "not below the top of channel 'pc''s valid range (4.2 MPa)"),
    ('igniter_channel = "p_ign"\nigniter_proven_above = 9\n', "igniter_proven_above",
     "not below the top of channel 'p_ign''s valid range"),
])
def test_the_staged_start_keys_are_checked_with_file_and_line(tmp_path, extra, key, why) -> None:
    path = staged_stand(tmp_path, extra)
    with pytest.raises(ConfigError) as info:
        load_stand(path)
    msg = str(info.value)
    assert why in msg and key in msg
    assert f"{path}:{line_of(path.read_text(), key + ' =')}" in msg or f"line {line_of(path.read_text(), key)}" in msg


def test_one_opening_applies_to_every_chamber_propellant_valve(tmp_path) -> None:
    ign = load_stand(staged_stand(tmp_path, "max_open_before_confirm = 15\nstage_window_s = 0.5\n")).ignition
    assert ign is not None and ign.stage_limit("ox_main") == 15.0 and ign.stage_limit("fuel_main") == 15.0
    assert ign.stage_limit("purge") is None and ign.stage_window_s == 0.5


# ------------------------------------------------------------------------------ hil check, statically

def test_hil_check_refuses_a_direct_start_beyond_the_ignition_stage_with_its_line(tmp_path) -> None:
    """The lab relight as it was before the staged start opened LOX and fuel to 50 % before
    ignition is confirmed: on a stand that allows 15 % that is refused at the LOX lead's line
    (once per repeat)."""
    stand = load_stand(staged_stand(tmp_path, "max_open_before_confirm = 15\n"))
    path, text = direct_start(tmp_path)
    with pytest.raises(SequenceInvalid) as info:
        load_sequence(path, stand)
    msgs = [str(e) for e in info.value.errors]
    lox = [m for m in msgs if "ox_main opened to 50 % before ignition is confirmed" in m]
    assert len(lox) == 3 and all(f":{line_of(text, 'LOX lead')}" in m for m in lox), msgs
    assert sum("fuel_main opened to 50 %" in m for m in msgs) == 3
    assert all("allows 15 %" in m for m in lox)


def test_hil_check_passes_a_start_within_the_ignition_stage(tmp_path) -> None:
    stand = load_stand(staged_stand(tmp_path, "max_open_before_confirm = 50\nstage_window_s = 0.4\n"))
    load_sequence(direct_start(tmp_path)[0], stand)  # 50 % until the wait on pc, 0.15 s after the LOX lead
    load_sequence(LAB_RELIGHT, load_stand(LAB))  # the shipped staged start on the shipped stand


def test_hil_check_refuses_a_confirmation_that_may_outlast_the_stage_window(tmp_path) -> None:
    stand = load_stand(staged_stand(tmp_path, "stage_window_s = 0.1\n"))
    with pytest.raises(SequenceInvalid) as info:
        load_sequence(LAB_RELIGHT, stand)  # LOX at 0.3, the wait may run to 0.45: 0.15 s
    text = LAB_RELIGHT.read_text()
    msgs = [str(e) for e in info.value.errors if "beyond stage_window_s 0.1 s" in str(e)]
    assert len(msgs) == 3 and all(f":{line_of(text, 'ignition confirmed')}" in m for m in msgs)


def test_hil_check_refuses_main_propellants_before_the_igniter_is_proven(tmp_path) -> None:
    """The shipped lab stand declares its igniter (p_ign): the start as it was, with no wait that
    proves it, is refused at the LOX lead; a wait proving it first passes."""
    stand = load_stand(staged_stand(tmp_path, 'igniter_channel = "p_ign"\nigniter_proven_above = 0.4\n'))
    path, text = direct_start(tmp_path)
    with pytest.raises(SequenceInvalid) as info:
        load_sequence(path, stand)
    msgs = [str(e) for e in info.value.errors if "opened before the igniter is proven" in str(e)]
    assert any(f":{line_of(text, 'LOX lead')}" in m and "ox_main" in m for m in msgs), msgs
    # with a wait that proves it (aborting on timeout) before the LOX lead, the start passes
    proven = text.replace('  { at = 0.3, set = { ox_main = 50 }, label = "LOX lead" },\n',
                          '  { at = 0.25, wait = "p_ign > 0.4", timeout = 0.05, on_timeout = "abort" },\n'
                          '  { at = 0.3, set = { ox_main = 50 }, label = "LOX lead" },\n')
    assert proven != text
    path = tmp_path / "proven.toml"
    path.write_text(proven)
    load_sequence(path, stand)
    path.write_text(proven.replace('on_timeout = "abort" },\n  { at = 0.3', 'on_timeout = "continue" },\n  { at = 0.3'))
    with pytest.raises(SequenceInvalid, match="opened before the igniter is proven"):
        load_sequence(path, stand)  # a wait that lets the count go on unproven proves nothing


def test_unlit_flow_is_a_burn_to_hil_check(tmp_path) -> None:
    """The reproduction of issue 24: both propellants open at the LOX lead with the igniter off,
    the igniter and the wait on pc 2 s later passed ``hil check`` (the burn began at the igniter)
    and flowed 2 s unlit. The burn begins when both are open: the wait is too late, refused."""
    text = direct_start(tmp_path)[1].replace("repeat = 3", "repeat = 1")
    repro = text.replace('  { at = 0.0, set = { purge = 0, igniter = 1 }, label = "igniter on" },\n',
                         '  { at = 0.0, set = { purge = 0 } },\n')
    repro = repro.replace('{ at = 0.35, wait = "pc > 0.3"', '{ at = 2.35, set = { igniter = 1 } },\n'
                                                            '  { at = 2.35, wait = "pc > 0.3"')
    repro = repro.replace('{ at = 0.5, set = { igniter = 0 } }', '{ at = 2.5, set = { igniter = 0 } }')
    repro = repro.replace('{ at = 0.5, throttle', '{ at = 2.5, throttle').replace('{ at = 1.0, throttle',
                                                                                '{ at = 3.0, throttle')
    assert repro.count("2.35") == 2
    path = tmp_path / "unlit.toml"
    path.write_text(repro)
    with pytest.raises(SequenceInvalid) as info:
        load_sequence(path, load_stand(LAB))
    msgs = [str(e) for e in info.value.errors]
    assert any("burn starting at T+0 has no ignition confirmation" in m for m in msgs), msgs
    assert any(f":{line_of(repro, 'fuel open')}" in m for m in msgs), msgs


def test_unlit_flow_aborts_within_the_ignition_window(tmp_path) -> None:
    """Both chamber propellants opened with the igniter off, from outside the sequence's steps
    (during the pre-purge, before any wait could cover it): the ignition window starts then and
    aborts after 0.3 s. Keyed on the igniter as before, it flowed until the sequence's igniter
    came on at T-0.35 (0.55 s) and only then aborted."""
    done: dict[str, float] = {}

    def opener(ctl) -> None:
        seq = ctl.sequencer
        if not done and seq.state.name == "RUNNING" and seq.seq_t >= -0.9:
            ctl.commands.set("ox_main", 10.0)
            ctl.commands.set("fuel_main", 10.0)
            done["at"] = seq.seq_t

    bare = staged_stand(tmp_path, "")  # no staged start: it would refuse the opening outright
    res = run(RunOptions(sequence=str(direct_start(tmp_path)[0]), stand=str(bare), sim="lockstep",
                         out=str(tmp_path / "r"), progress=False, on_cycle=opener))
    assert done and res.exit_code == EXIT_ABORTED, res.summary
    assert "ignition not confirmed" in res.summary["abort_reason"], res.summary["abort_reason"]
    table = read_run(res.run_dir).table
    t = np.asarray(table.column("time"))
    both = (np.asarray(table.column("cmd.ox_main")) > 0) & (np.asarray(table.column("cmd.fuel_main")) > 0)
    assert not np.asarray(table.column("cmd.igniter"))[both].any()  # unlit all along
    open_s = t[both][-1] - t[both][0]
    assert open_s < 0.3 + 0.01, open_s


def _lockstep(stand_path: Path, tmp_path: Path) -> Controller:
    stand = load_stand(stand_path)
    firmware = Firmware(stand)
    return Controller(stand, LockstepTransport(firmware), VirtualClock(firmware))


def test_an_opening_from_outside_the_sequence_is_taken_back_before_the_wire(tmp_path) -> None:
    """Anything in the loop that writes fuel_main to 100 % before ignition is confirmed (a
    throttle bug, a script): the start stage takes it back to the 6 % it had and aborts with the
    reason; the firmware never sees more than 6 % (the safing closes the fuel 50 ms after the
    LOX, so without the take-back 100 % would reach the wire for those 50 ms)."""
    stand_path = LAB
    done: dict[str, bool] = {}

    def rogue(ctl) -> None:
        if not done and ctl.commands.get("fuel_main") > 0 and not ctl.ignition.burning:
            ctl.commands.set("fuel_main", 100.0)
            done["sent"] = True

    res = run(RunOptions(sequence=str(LAB_RELIGHT), stand=str(stand_path), sim="lockstep", out=str(tmp_path / "r"),
                         progress=False, on_cycle=rogue))
    assert done and res.exit_code == EXIT_ABORTED
    reason = res.summary["abort_reason"]
    assert reason.startswith("start interlock: fuel_main commanded 100 % before ignition is confirmed"), reason
    assert "allows 6 %" in reason
    table = read_run(res.run_dir).table
    assert np.nanmax(np.asarray(table.column("cmd.fuel_main"))) <= 6.0
    assert np.nanmax(np.asarray(table.column("fuel_main_pos"))) < 7.5  # the valve never went past the stage
    assert res.summary["firmware"]["ignitions"] == 0


def test_the_sequencer_refuses_a_step_beyond_the_stage_with_its_line() -> None:
    """A step reaching the sequencer that hil check would refuse (the stand changed after the
    check): not commanded, the run aborted naming the step's line."""
    stand = load_stand(LAB)
    strict = stand
    assert strict.ignition is not None
    strict = dataclasses.replace(strict, ignition=dataclasses.replace(
        strict.ignition, max_open_before_confirm=(("ox_main", 5.0), ("fuel_main", 5.0))))
    commands = Commands(strict)
    sup = Supervisor(strict, commands, lambda *a, **k: None)
    sup.on_cycle(0.0, True, None)
    sup.arm(0.0, [])
    sup.start(0.0)
    mon = IgnitionMonitor(strict, sup, commands, lambda *a, **k: None)
    gate = StartInterlock(strict, sup, commands, mon, lambda *a, **k: None)
    quiet = lambda *a, **k: None  # noqa: E731 - an event sink that keeps nothing
    redlines = RedlineMonitor(strict, sup, SensorQualifier(strict, sup, quiet), quiet, 1000.0)
    seq = Sequencer(sup, commands, quiet, redlines, mon, None, start=gate)
    step = next(s for s in load_sequence(LAB_RELIGHT, stand).steps if s.label == "LOX lead")
    seq._execute(0.0, step)  # noqa: SLF001 - the unit under test
    assert commands.get("ox_main") == 0.0
    assert sup.state == State.ABORTING
    assert "ox_main commanded 6 % before ignition is confirmed; the ignition stage allows 5 %" in sup.abort_reason
    assert f"(step at line {step.line})" in sup.abort_reason


def test_the_igniter_must_be_proven_at_run_time() -> None:
    """With an igniter channel, opening a chamber propellant valve while it reads at or below
    its threshold — or not at all (NaN) — is taken back and aborts; proven, it passes."""
    stand = load_stand(LAB)
    assert stand.ignition is not None
    stand = dataclasses.replace(stand, ignition=dataclasses.replace(
        stand.ignition, igniter_channel="p_purge", igniter_proven_above=0.05))
    ch = [c.name for c in stand.channels].index("p_purge")
    for reading, refused in ((0.2, False), (0.05, True), (float("nan"), True)):
        commands = Commands(stand)
        sup = Supervisor(stand, commands, lambda *a, **k: None)
        sup.on_cycle(0.0, True, None)
        sup.arm(0.0, [])
        sup.start(0.0)
        mon = IgnitionMonitor(stand, sup, commands, lambda *a, **k: None)
        gate = StartInterlock(stand, sup, commands, mon, lambda *a, **k: None)
        cs = CycleState(len(stand.channels))
        cs.valid[:] = True
        cs.values[ch] = reading
        cs.t = 0.1
        gate.on_cycle(cs)
        commands.set("ox_main", 5.0)
        cs.t = 0.101
        gate.on_cycle(cs)
        if refused:
            assert sup.state == State.ABORTING and "igniter not proven" in sup.abort_reason
            assert commands.get("ox_main") == 0.0
        else:
            assert sup.state == State.RUNNING and commands.get("ox_main") == 5.0


def test_a_manual_setting_that_opens_both_propellants_beyond_the_stage_is_refused(tmp_path) -> None:
    ctl = _lockstep(LAB, tmp_path)  # the shipped stand: 6 %
    ctl.loop.start()
    for _ in range(50):
        ctl.loop.step()
    ctl.set_output("ox_main", 100.0)  # one valve alone (a valve timing) is no start
    ctl.set_output("ox_main", 0.0)
    ctl.set_output("fuel_main", 5.0)
    with pytest.raises(Refused, match="ox_main commanded 40 % before ignition is confirmed"):
        ctl.set_output("ox_main", 40.0)
    ctl.set_output("ox_main", 0.0)
    ctl.set_output("fuel_main", 0.0)
    ctl.loop.shutdown()


@pytest.mark.parametrize("before_wait, why", [
    ('  { at = 0.35, ramp = { fuel_main = 100 }, over = 0.5 },\n', "fuel_main opened to 100 % before ignition"),
    ('  { at = 0.35, throttle = { pc = 2.0 } },\n', "closed-loop throttle on fuel_main, ox_main before ignition"),
])
def test_hil_check_judges_a_ramp_by_its_target_and_refuses_an_early_closed_loop(tmp_path, before_wait, why) -> None:
    stand = load_stand(LAB)
    text = LAB_RELIGHT.read_text().replace("repeat = 3", "repeat = 1")
    anchor = '  { at = 0.35, wait = "pc > 0.3"'
    variant = text.replace(anchor, before_wait + anchor)
    assert variant != text
    path = tmp_path / "early.toml"
    path.write_text(variant)
    with pytest.raises(SequenceInvalid) as info:
        load_sequence(path, stand)
    msgs = [str(e) for e in info.value.errors if why in str(e)]
    assert len(msgs) == 1 and f":{line_of(variant, before_wait.strip()[:30])}" in msgs[0], info.value.errors


# ------------------------------------------------------------------------------ the shipped starts in lockstep

@pytest.mark.parametrize("sequence", ["lab_relight", "tq12_hotfire_100"])
def test_an_igniter_that_never_lights_ends_the_run_before_any_propellant_flows(tmp_path, sequence) -> None:
    res = run(RunOptions(sequence=sequence, sim="lockstep", out=str(tmp_path / "r"), progress=False,
                         faults=("igniter_failure@0",)))
    assert res.exit_code == EXIT_ABORTED, res.summary
    assert "waiting for 'p_ign > 0.4'" in res.summary["abort_reason"]
    assert res.summary["final_state"] == "SAFE" and res.summary["firmware"]["ignitions"] == 0
    table = read_run(res.run_dir).table
    for name in ("cmd.ox_main", "cmd.fuel_main"):
        assert np.nanmax(np.asarray(table.column(name))) == 0.0, name
    for name in ("ox_main_pos", "fuel_main_pos"):  # the valves never cracked open: nothing entered the chamber
        assert np.nanmax(np.asarray(table.column(name))) < 1.0, name


@pytest.mark.parametrize("sequence, limit", [("lab_relight", 2.6), ("tq12_hotfire_100", 13.0)])
def test_a_late_ignition_ends_aborted_and_safe_below_the_overpressure_limit(tmp_path, sequence, limit) -> None:
    """100 ms late: the staged start's window ends the run before the late light; whatever lit
    stayed far below the firmware's overpressure limit (it was 3.1 MPa on the lab engine and
    ≥ 19.5 MPa on the TQ-12-like engine with the direct starts)."""
    res = run(RunOptions(sequence=sequence, sim="lockstep", out=str(tmp_path / "r"), progress=False,
                         faults=("late_ignition:delay=0.1@0",)))
    assert res.exit_code == EXIT_ABORTED, res.summary
    assert res.summary["final_state"] == "SAFE"
    assert res.summary["firmware"]["peak_pc_mpa"] < 0.8 * limit


# ------------------------------------------------------------------------------ hard-start protection

def test_a_hard_start_shuts_every_propellant_valve_in_the_cycle_it_is_seen(tmp_path) -> None:
    """The direct start (50 %, as before issue 24) on a lab stand without the ignition stage but
    with hard-start detection, the igniter 100 ms late: the spike is seen as it rises and both
    main valves and the igniter are commanded shut in that same cycle — 0 cycles — where the
    safing alone would have held the fuel open 50 ms longer (its fuel-rich lag)."""
    stand = staged_stand(tmp_path, "hard_start_rate = 800.0\nhard_start_above = 2.4\n")
    # the firmware's own trips set out of reach: the spike saturates the transducer in one scan,
    # where the firmware's hard-start trip (tests/test_hardstart_trip.py), scanning first, would
    # latch before the controller's cycle reads it, and what had piled up burns on above 2.6 MPa
    # for more than the overpressure trip's 3 scans after the cut; here the controller's cut alone
    # is measured
    text = stand.read_text()
    assert text.count("overpressure_samples = 3\n") == 1 and text.count("overpressure_limit = 2.6 ") == 1
    stand.write_text(text.replace("overpressure_samples = 3\n", "overpressure_samples = 3\nhard_start_above = 100.0\n")
                     .replace("overpressure_limit = 2.6 ", "overpressure_limit = 100.0 "))
    res = run(RunOptions(sequence=str(direct_start(tmp_path)[0]), stand=str(stand), sim="lockstep",
                         out=str(tmp_path / "r"), progress=False, faults=("late_ignition:delay=0.1@0",)))
    assert res.exit_code == EXIT_ABORTED, res.summary
    assert res.summary["abort_reason"].startswith("hard start: pc "), res.summary["abort_reason"]
    table = read_run(res.run_dir).table
    t = np.asarray(table.column("time"))
    pc = np.asarray(table.column("pc"))
    events = [json.loads(ln) for ln in (res.run_dir / "events.jsonl").read_text().splitlines()]
    seen = next(e for e in events if e["kind"] == "hard_start")
    k = int(np.argmin(np.abs(t - seen["t"])))
    assert t[k] == pytest.approx(seen["t"], abs=1e-6)
    # the row of the detecting cycle already carries every cut valve shut (what was written)
    assert all(np.asarray(table.column(f"cmd.{n}"))[k] == 0.0 for n in ("ox_main", "fuel_main", "igniter"))
    assert np.asarray(table.column("cmd.fuel_main"))[k - 1] > 0  # open the cycle before: cut, not closed earlier
    rise = np.diff(pc[: k + 1]) / np.diff(t[: k + 1])
    assert rise[-1] > 800.0 or pc[k] > 2.4  # what it saw
    cycles = k - int(np.argmax((pc > 2.4) | (np.r_[0.0, np.diff(pc) / np.diff(t)] > 800.0)))
    assert cycles <= 1  # seen on the first (level) or second (rate, 2 samples) sample of the spike
    print(f"hard start seen at pc {pc[k]:.2f} MPa; valves shut {cycles} cycle(s) after the first spike sample")


def test_no_hard_start_is_seen_in_a_nominal_staged_start(tmp_path) -> None:
    res = run(RunOptions(sequence="tq12_hotfire_100", sim="lockstep", out=str(tmp_path / "r"), progress=False))
    assert res.exit_code == 0, res.summary
    events = [json.loads(ln) for ln in (res.run_dir / "events.jsonl").read_text().splitlines()]
    assert not [e for e in events if e["kind"] == "hard_start"]


def test_hil_check_counts_no_burn_in_a_cold_flow() -> None:
    """Both propellants open is a burn attempt, except in a cold flow: hil check says so."""
    import io

    from hil.check import check

    out = io.StringIO()
    assert check(str(SEQ / "tq12_cold_flow.toml"), str(ROOT / "configs/stands/sim_tq12.toml"), out) == 0
    assert "0 burn(s) (cold flow; propellants open T+0→T+3)" in out.getvalue()
