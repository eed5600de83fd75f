"""Sequences end to end: the condition language, the loader's located errors, every shipped
sequence against the simulated stand, injected faults ending safe with the right reason, and
the abort latency on the firmware's own clock."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import LAB, ROOT, TQ12, skip_if_the_machine_stalled
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hil.check import check
from hil.errors import ConfigError, ExprError, SequenceInvalid
from hil.record.recorder import read_run
from hil.runner import EXIT_ABORTED, EXIT_FAULT, EXIT_INVALID, EXIT_OK, RunOptions, run
from hil.sequence import parse_sequence
from hil.sequence.expr import compile_expr
from hil.stand import load_stand

SEQ = ROOT / "configs" / "sequences"
pytestmark = pytest.mark.timeout(180)


# ------------------------------------------------------------------------------ expressions

@pytest.mark.parametrize("src, env, want", [
    ("pc > 1.5", {"pc": 2.0}, 1.0),
    ("pc > 1.5 and pc_b > 1.5", {"pc": 2.0, "pc_b": 1.0}, 0.0),
    ("not pc > 1 or cmd.ox_main == 100", {"pc": 2.0, "cmd.ox_main": 100.0}, 1.0),
    ("1 + 2 * 3 - 4 / 2", {}, 5.0),
    ("-(2 - 5) * 2", {}, 6.0),
    ("pc < 0.8 * pc_setpoint", {"pc": 7.0, "pc_setpoint": 10.0}, 1.0),
    ("1 / 0", {}, math.nan),
])
def test_expressions(src, env, want) -> None:
    v = compile_expr(src)(env)
    assert (math.isnan(v) and math.isnan(want)) or v == want


def test_missing_data_never_satisfies_a_condition() -> None:
    e = compile_expr("pc > 1.0")
    assert not e.holds({"pc": math.nan})
    assert not compile_expr("pc < 1.0").holds({"pc": math.nan})


@pytest.mark.parametrize("src, message, column", [
    ("pc >", "ends too early", 5), ("pc >> 2", "unexpected '>'", 5), ("(pc > 1", "missing ')'", 8),
    ("pc $ 1", "unexpected character '$'", 4), ("", "empty condition", 1), ("pc 1", "unexpected '1'", 4),
    ("__import__('os')", "unexpected character", 12),
])
def test_expression_errors_name_the_column(src, message, column) -> None:
    with pytest.raises(ExprError) as info:
        compile_expr(src)
    assert message in str(info.value) and info.value.column == column


def test_no_python_evaluation_is_possible() -> None:
    e = compile_expr("exec and eval")
    assert e.names == {"exec", "eval"}  # just names to look up in the channel table
    with pytest.raises(KeyError):
        e({})


# ------------------------------------------------------------------------------ loader errors

HOTFIRE = (SEQ / "tq12_hotfire_100.toml").read_text()


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


BROKEN = [
    ("unknown actuator", lambda s: s.replace("set = { purge = 1,", "set = { purg = 1,"), "unknown actuator 'purg'", "purg = 1"),
    ("unknown channel in a condition", lambda s: s.replace('wait = "pc > 9.0"', 'wait = "pcc > 9.0"'), "unknown name 'pcc'", "pcc > 9.0"),
    ("bad condition syntax", lambda s: s.replace('wait = "pc > 9.0"', 'wait = "pc >> 9.0"'), "unexpected '>'", "pc >> 9.0"),
    ("throttle beyond the stand's range", lambda s: s.replace("throttle = { pc = 10.0 }", "throttle = { pc = 12.0 }"), "outside the stand's throttle range 40-110 %", "pc = 12.0"),
    ("throttle below the stand's range", lambda s: s.replace("throttle = { pc = 10.0 }", "throttle = { pc = 3.0 }"), "outside the stand's throttle range", "pc = 3.0"),
    ("time going backwards", lambda s: s.replace('at = "T+8.6"', 'at = "T+8.4"'), "times must not go backwards", 'at = "T+8.4"'),
    ("malformed time", lambda s: s.replace('at = "T-3.0"', 'at = "minus three"'), "must look like T-5.0", "minus three"),
    ("value out of range", lambda s: s.replace("set = { ox_main = 100, fuel_main = 100 }", "set = { ox_main = 120, fuel_main = 100 }"), "ox_main = 120 is outside its range", "ox_main = 120"),
    ("two step kinds", lambda s: s.replace('label = "pre-purge"', 'hold = 1.0'), "exactly one of", "hold = 1.0"),
    ("missing timeout", lambda s: s.replace("timeout = 2.0\n", ""), "timeout: is required for a wait step", 'wait = "pc > 9.0"'),
    ("unknown redline", lambda s: s.replace('enable_redline = "pc_under_command"', 'enable_redline = "pc_low"'), "no redline named 'pc_low'", "pc_low"),
    ("no ignition confirmation", lambda s: s.replace('wait = "pc > 0.4 and pc_b > 0.4"', 'wait = "pump_speed > 1000"'), "has no ignition confirmation", 'at = "T0"'),
    ("wrong stand", lambda s: s.replace('stand = ["sim-tq12", "sim-tq12-devices"]', 'stand = "sim-lab"'),
     "written for stand 'sim-lab', not 'sim-tq12'", 'stand = "sim-lab"'),
    ("wrong stands", lambda s: s.replace('stand = ["sim-tq12", "sim-tq12-devices"]', 'stand = ["sim-lab", "x"]'),
     "written for stands 'sim-lab', 'x', not 'sim-tq12'", 'stand = ["sim-lab", "x"]'),
    ("typo in a key", lambda s: s.replace('on_timeout = "abort"', 'on_timout = "abort"'), "unknown key 'on_timout'", "on_timout"),
    ("bad on_timeout", lambda s: s.replace('on_timeout = "abort"', 'on_timeout = "panic"'), "must be one of abort, continue", "panic"),
]


@pytest.mark.parametrize("desc, transform, message, line_text", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_sequences_name_file_and_line(desc, transform, message, line_text) -> None:
    text = transform(HOTFIRE)
    assert text != HOTFIRE
    with pytest.raises(SequenceInvalid) as info:
        parse_sequence(text, load_stand(TQ12), "seq/broken.toml")
    errs = [e for e in info.value.errors if message in str(e)]
    assert errs, [str(e) for e in info.value.errors]
    assert str(errs[0]).startswith("seq/broken.toml:")
    assert errs[0].line == _line(text, line_text), str(errs[0])


RELIGHT = (SEQ / "tq12_three_burn.toml").read_text()


@pytest.mark.parametrize("transform, message", [
    (lambda s: s.replace("{ at = 3.1, set = { purge = 0 }", "{ at = 0.3, set = { purge = 0 }"), "only 0.2 s of purge"),
    (lambda s: s.replace("{ at = 3.1, set = { purge = 0 }", "{ at = 0.3, set = { purge = 0 }")
     .replace('at = "T+15.0"\nrun = "start"', 'at = "T+7.5"\nrun = "start"'), "the stand requires ≥ 2 s off"),
    (lambda s: s.replace("{ at = 0.1, set = { fuel_main = 0, fuel_iso = 0, purge = 1 }, label = \"fuel closed, purge\" },\n  { at = 3.1, set = { purge = 0 }, label = \"purge off\" },",
                         "{ at = 0.1, set = { fuel_main = 0, fuel_iso = 0 }, label = \"fuel closed\" },"), "of purge since the shutdown"),
    (lambda s: s.replace('run = "start"', 'run = "strat"', 1), "no block named 'strat'"),
    (lambda s: s.replace('{ at = 0.0, wait = "pc < 0.2", timeout = 1.0, on_timeout = "abort", label = "chamber down (relight_below)" },\n', ""), "no wait for pc below relight_below 0.2"),
    (lambda s: s.replace('wait = "pc < 0.2"', 'wait = "pc < 0.5"'), "no wait for pc below relight_below 0.2"),
    (lambda s: s.replace('wait = "pc < 0.2"', 'wait = "pc < 0.2 or pc_b < 0.1"'), "no wait for pc below relight_below"),
    (lambda s: s.replace('wait = "pc < 0.2"', 'wait = "not pc > 0.2"'), "no wait for pc below relight_below"),
])
def test_relight_inhibits_are_checked(transform, message) -> None:
    text = transform(RELIGHT)
    assert text != RELIGHT
    with pytest.raises(SequenceInvalid) as info:
        parse_sequence(text, load_stand(TQ12), "relight.toml")
    assert any(message in str(e) for e in info.value.errors), [str(e) for e in info.value.errors]


def test_cold_flow_may_not_light_the_igniter() -> None:
    text = (SEQ / "tq12_cold_flow.toml").read_text().replace("set = { purge = 0 }\n", "set = { purge = 0, igniter = 1 }\n", 1)
    with pytest.raises(SequenceInvalid, match="must not switch the igniter on"):
        parse_sequence(text, load_stand(TQ12), "cold.toml")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_the_loader(text: str) -> None:
    stand = load_stand(TQ12)
    try:
        parse_sequence(text, stand, "fuzz.toml")
    except (ConfigError, SequenceInvalid):
        pass


_junk = st.none() | st.booleans() | st.integers(-10**5, 10**5) | st.floats(allow_nan=False) | st.text(max_size=12) | \
    st.lists(st.integers(-5, 5), max_size=3) | st.dictionaries(st.sampled_from(["pc", "gg", "ox_main", "x"]),
                                                               st.integers(-5, 200), max_size=2)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_sequence_never_crashes_the_loader(data) -> None:
    import tomllib

    import tomli_w

    doc = tomllib.loads(RELIGHT)
    step_i = data.draw(st.integers(0, len(doc["steps"]) - 1))
    key = data.draw(st.sampled_from(["at", "set", "wait", "timeout", "throttle", "run", "repeat", "every", "hold",
                                     "on_timeout", "label", "for", "ramp", "over", "enable_redline"]))
    value = data.draw(_junk)
    if value is None:
        doc["steps"][step_i].pop(key, None)
    else:
        doc["steps"][step_i][key] = value
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):
        return
    try:
        parse_sequence(text, load_stand(TQ12), "mut.toml")
    except (ConfigError, SequenceInvalid) as exc:
        assert "mut.toml" in str(exc)


def test_hil_check_cli() -> None:
    r = subprocess.run([sys.executable, "-m", "hil.cli", "check", str(SEQ / "tq12_three_burn.toml"),
                        "--stand", str(TQ12)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 burn(s)" in r.stdout and "deep throttle to 45 %" in r.stdout
    assert r.stdout.count("[start #1 (step at line") == 3 * 11  # each burn expands the start block
    out = io.StringIO()
    assert check(str(SEQ / "lab_relight.toml"), str(TQ12), out) == EXIT_INVALID
    assert "written for stand 'sim-lab'" in out.getvalue()
    out = io.StringIO()  # a stand of several devices: their paces and each serial line's share of its wire
    assert check(str(SEQ / "tq12_three_burn.toml"), "sim_tq12_devices", out) == EXIT_OK
    assert "flow (rtu, 50 Hz, non-critical)" in out.getvalue()
    assert "serial line /dev/ttyHIL0: 35 % of its wire time" in out.getvalue()


# ------------------------------------------------------------------------------ runs

def run_seq(name: str, stand, tmp_path, sim="lockstep", faults=(), **kw):
    res = run(RunOptions(sequence=str(SEQ / name), stand=str(stand), sim=sim, out=str(tmp_path / name),
                         faults=tuple(faults), progress=False, **kw))
    return res


def test_hotfire_100(tmp_path) -> None:
    res = run_seq("tq12_hotfire_100.toml", TQ12, tmp_path)
    s = res.summary
    assert res.exit_code == EXIT_OK and s["outcome"] == "completed" and s["final_state"] == "SAFE"
    (burn,) = s["burns"]
    assert burn["pc_mean_mpa"] == pytest.approx(10.0, rel=0.01)
    assert 0.5 < burn["t90_s"] < 2.0 and burn["duration_s"] == pytest.approx(8.5 + 0.4, abs=0.6)
    # the recording covers the whole run, every cycle
    data = read_run(res.run_dir).table
    assert data.num_rows == s["loop"]["cycles"] == s["samples"]
    assert s["stand"]["sha256"] == load_stand(TQ12).sha256 and (res.run_dir / "inputs" / "sim_tq12.toml").exists()


def test_throttle_profile_settles_each_step(tmp_path) -> None:
    s = run_seq("tq12_throttle.toml", TQ12, tmp_path).summary
    assert s["outcome"] == "completed"
    steps = s["burns"][0]["throttle_steps"]
    assert [step["pc_cmd_mpa"] for step in steps] == [10.0, 6.0, 8.0, 10.0]
    for step in steps:
        assert step["settle_s"] is not None and step["settle_s"] < 2.0, step
        assert abs(step["tracking_mean_pct"]) < 1.5 and step["overshoot_pct"] < 5.0, step


@pytest.mark.slow
def test_three_burn_relight(tmp_path) -> None:
    s = run_seq("tq12_three_burn.toml", TQ12, tmp_path).summary
    assert s["outcome"] == "completed", s["abort_reason"]
    burns = s["burns"]
    assert len(burns) == 3 and all(b["ignited"] for b in burns)
    assert s["firmware"]["ignitions"] == 3
    landing = burns[2]["throttle_steps"][-1]
    assert landing["pc_cmd_mpa"] == 4.5 and landing["settle_s"] is not None
    entry = burns[1]["throttle_steps"][-1]
    assert entry["pc_cmd_mpa"] == 8.0


def test_lab_relight_with_a_repeat_block(tmp_path) -> None:
    s = run_seq("lab_relight.toml", LAB, tmp_path).summary
    assert s["outcome"] == "completed", s["abort_reason"]
    assert len(s["burns"]) == 3 and s["firmware"]["ignitions"] == 3
    for b in s["burns"]:
        assert b["throttle_steps"][-1]["pc_cmd_mpa"] == 1.2


def test_cold_flow(tmp_path) -> None:
    s = run_seq("tq12_cold_flow.toml", TQ12, tmp_path).summary
    assert s["outcome"] == "completed" and s["burns"] == [] and s["firmware"]["ignitions"] == 0
    data = read_run(tmp_path / "tq12_cold_flow.toml").table
    assert np.nanmax(data.column("p_inj_ox").to_numpy()) > 1.0  # propellant did flow


def test_abort_demo_and_abort_latency(tmp_path) -> None:
    """Redline trip mid-burn → safing on the firmware's registers; latency counted in cycles on
    the simulator's clock, from the first violating sample."""
    seen = {}

    def watch(ctl) -> None:
        fw_ = ctl.loop.transport.fw
        if "first" not in seen and ctl.redlines.tripped:
            seen["first"] = ctl.redlines.first_violation[ctl.redlines.tripped[0]]
            seen["trip_t"] = ctl.loop.t
        ox_reg = ctl.stand.actuator("ox_main").register
        if "first" in seen and "fw_t" not in seen and fw_.holding[ox_reg] == 0:
            seen["fw_t"] = ctl.loop.t  # the safing command is in the firmware's registers

    res = run_seq("tq12_abort_demo.toml", TQ12, tmp_path, on_cycle=watch)
    s = res.summary
    assert res.exit_code == EXIT_ABORTED and s["outcome"] == "aborted"
    assert s["abort_reason"].startswith("redline demo_pc_cap") and s["redlines_tripped"] == ["demo_pc_cap"]
    assert s["final_state"] == "SAFE"
    persistence = 5
    latency_cycles = round((seen["fw_t"] - seen["first"]) * 1000)
    assert latency_cycles == persistence - 1  # tripped on the 5th sample, commanded in that same cycle
    events = [json.loads(x) for x in (res.run_dir / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "redline" and e["redline"] == "demo_pc_cap" for e in events)
    # safing order on the recording: LOX closed first, fuel 0.1 s later, purge on
    data = read_run(res.run_dir).table
    t = data.column("time").to_numpy()
    ox = data.column("cmd.ox_main").to_numpy()
    fuel = data.column("cmd.fuel_main").to_numpy()
    t_ox = t[np.flatnonzero((ox[:-1] > 0) & (ox[1:] == 0))[-1] + 1]
    t_fuel = t[np.flatnonzero((fuel[:-1] > 0) & (fuel[1:] == 0))[-1] + 1]
    assert t_fuel - t_ox == pytest.approx(0.1, abs=0.0015)
    assert data.column("cmd.purge").to_numpy()[np.searchsorted(t, t_fuel + 0.05)] == 1


FAULTS = [
    ("ignition_failure@0", EXIT_ABORTED, "timeout after 0.12 s waiting for 'pc > 0.4 and pc_b > 0.4'"),
    # a late light-up is caught by the short confirmation window: the abort switches the igniter
    # off before the propellant that piled up can light (it used to be a 30 MPa hard start)
    ("late_ignition:delay=0.35@0", EXIT_ABORTED, "timeout after 0.12 s waiting for"),
    # the GG valve stuck during the throttle-down: the valve watch (commanded vs position for 0.5 s)
    # or a Pc redline catches it first, depending on how far Pc stays above its command; still
    # open though commanded shut after the abort, it is latched as FAULT: exit code 3, not 2
    ("valve_stuck:valve=gg,at=here@9", EXIT_FAULT, ("redline pc_", "valve gg is not following its command")),
    ("instability:amp=0.25,hz=180@6", EXIT_ABORTED, "redline pc_rate"),
    ("stop_answering@6", EXIT_FAULT, "communication lost"),
]


@pytest.mark.parametrize("fault, code, reason", FAULTS, ids=[f[0].split("@")[0] for f in FAULTS])
def test_faults_end_safe_with_the_right_reason(tmp_path, fault, code, reason) -> None:
    res = run_seq("tq12_throttle.toml", TQ12, tmp_path, faults=[fault])
    s = res.summary
    assert res.exit_code == code, s["abort_reason"]
    assert any(r in (s["abort_reason"] or "") for r in ((reason,) if isinstance(reason, str) else reason)), \
        s["abort_reason"]
    assert s["firmware"]["peak_pc_mpa"] < load_stand(TQ12).firmware.overpressure_limit  # no hard start
    # safe at the end: no propellant commanded, the plant's valves shut, no flame
    data = read_run(res.run_dir).table
    assert data.column("cmd.ox_main").to_numpy()[-1] == 0 and data.column("cmd.fuel_main").to_numpy()[-1] == 0
    plant = s["firmware"]
    assert plant["ignitions"] <= 1 and plant["valves_closed"] and not plant["burning"], plant
    assert data.num_rows == s["samples"] and not s["recording_truncated"]


def test_pc_sensor_dropout(tmp_path) -> None:
    # lab stand, one Pc transducer: losing it mid-burn leaves the redlines blind → FAULT
    res = run_seq("lab_relight.toml", LAB, tmp_path, faults=["pc_dropout@2.0"])
    assert res.exit_code == EXIT_FAULT
    assert "every sensor it watches is disqualified" in res.summary["abort_reason"]
    assert res.summary["disqualified_sensors"] == ["pc"]
    # TQ-12 stand, redundant transducers: the dead one is disqualified and reported, the burn goes on
    res = run_seq("tq12_hotfire_100.toml", TQ12, tmp_path, faults=["pc_frozen@6.0"])
    assert res.exit_code == EXIT_OK, res.summary["abort_reason"]
    assert res.summary["disqualified_sensors"] == ["pc"]


@pytest.mark.slow
def test_hotfire_over_tcp(tmp_path) -> None:
    res = run_seq("tq12_hotfire_100.toml", TQ12, tmp_path, sim="tcp")
    s = res.summary
    skip_if_the_machine_stalled(s)
    assert res.exit_code == EXIT_OK, s["abort_reason"]
    assert s["burns"][0]["pc_mean_mpa"] == pytest.approx(10.0, rel=0.02)
    assert s["transport"]["kind"] == "tcp" and s["loop"]["cycles"] > 10000


@pytest.mark.slow
def test_relight_over_rtu(tmp_path) -> None:
    """The lab relight at 1 kHz over a simulated RTU line paced at 115200 baud: the line is polled
    in its own thread as fast as the wire allows (no faster), the loop keeps its rate."""
    from hil.stand.devices import wire_time, write_bytes

    res = run_seq("lab_relight.toml", LAB, tmp_path, sim="rtu")
    s = res.summary
    skip_if_the_machine_stalled(s)
    assert res.exit_code == EXIT_OK, s["abort_reason"]
    assert len(s["burns"]) == 3 and s["transport"]["kind"] == "rtu"
    shortest = wire_time(115200, *write_bytes("holding", 1))  # no transaction on the line is shorter
    assert s["transport"]["transactions"] / s["wall_s"] * shortest <= 1.0


@pytest.mark.slow
def test_a_valve_not_following_its_command_aborts_the_run_and_blocks_arming(tmp_path) -> None:
    """Fuel main valve stuck open from mainstage on (commanded 100 % there, so nothing to see
    until shutdown closes it): the position feedback disagrees with the command, the run is
    aborted naming the valve, and the stand cannot be armed again while it disagrees."""
    from hil.runner import RunOptions, run

    seq = ROOT / "configs/sequences/tq12_fault_matrix.toml"
    res = run(RunOptions(sequence=str(seq), stand=str(TQ12), sim="lockstep", out=str(tmp_path / "r"), progress=False,
                         faults=("valve_stuck:valve=fuel_main,at=open@5",)))
    s = res.summary
    assert s["outcome"] == "aborted" and "valve fuel_main is not following its command" in s["abort_reason"]
    events = [json.loads(x) for x in (tmp_path / "r" / "events.jsonl").read_text().splitlines()]
    shut = next(e["t"] for e in events if e["kind"] == "shutdown_commanded")
    dis = next(e for e in events if e["kind"] == "valve_disagree")
    assert dis["valve"] == "fuel_main" and 0.5 <= dis["t"] - shut <= 0.8  # hold time after the close command
    assert s["firmware"]["valves_closed"]  # the isolation valve shut the line behind the stuck valve
    # nominal runs never trip it: every valve follows its command through starts, throttling and shutdowns
    ok = run(RunOptions(sequence=str(ROOT / "configs/sequences/tq12_three_burn.toml"), stand=str(TQ12), sim="lockstep",
                        out=str(tmp_path / "n"), progress=False))
    assert ok.summary["outcome"] == "completed", ok.summary["abort_reason"]
    assert "valve_disagree" not in (tmp_path / "n" / "events.jsonl").read_text()


def test_arming_is_refused_while_a_valve_disagrees(tmp_path) -> None:
    from firmware_sim.faults import parse_fault
    from firmware_sim.firmware import Firmware
    from hil.controller import Controller
    from hil.cycle.clock import VirtualClock
    from hil.safety import State
    from hil.transport.lockstep import LockstepTransport

    stand = load_stand(TQ12)
    f = Firmware(stand, faults=[parse_fault("valve_stuck:valve=ox_main,at=40@0.1")])
    ctl = Controller(stand, LockstepTransport(f), VirtualClock(f))
    ctl.loop.start()
    for _ in range(1500):
        ctl.loop.step()
    assert ctl.loop.supervisor.state == State.FAULT and "ox_main" in ctl.loop.supervisor.fault_reason
    assert any("valve ox_main is not following" in c for c in ctl.arm_checks())
    ctl.loop.shutdown()
