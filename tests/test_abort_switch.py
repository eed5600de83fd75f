"""The hardware ABORT: a stand's discrete input wired to a mushroom button ([abort_switch]).

Pressed mid-burn it aborts and safes the stand like the console's ABORT, logged as the hardware
abort switch with the input named; held down it aborts once and ARM is refused until it is
released; in SAFE it re-asserts safing. The simulator presses it (``--fault abort_switch@T+D``).
Lockstep through a Controller, and `hil run` over TCP against the simulator child.
"""

from __future__ import annotations

import pytest
from conftest import ROOT, STANDS

from firmware_sim.faults import parse_fault, set_fault
from hil.controller import Controller
from hil.errors import ConfigError, FaultSpecError, Refused
from hil.links import open_link
from hil.runner import EXIT_ABORTED, RunOptions, run
from hil.safety import State
from hil.service.protocol import CommandProtocol
from hil.stand import load_stand, parse_stand

pytestmark = pytest.mark.timeout(240)

DEVICES = STANDS / "sim_tq12_devices.toml"
SEQ = ROOT / "configs" / "sequences"
WHERE = "abort_button: plc discrete input 4"


class Rig:
    """The default (devices) stand in lockstep, with a hand on its abort button."""

    def __init__(self) -> None:
        self.stand = load_stand(DEVICES, zero=False)
        self.link = open_link(self.stand, str(DEVICES), "lockstep")
        self.events: list[tuple[str, dict]] = []
        self.ctl = Controller(self.stand, self.link.transports, self.link.clock)
        self.ctl.events.add_listener(lambda t, kind, f: self.events.append((kind, dict(f))))
        self.ctl.loop.start()
        self.until(lambda: self.ctl.loop.t > 1.0 and not self.ctl.warming_up())

    def press(self, down: bool) -> None:
        set_fault(self.link.firmware, parse_fault("abort_switch@0"), down)

    def until(self, cond, limit_s: float = 30.0) -> None:
        t_end = self.ctl.loop.t + limit_s
        while not cond():
            assert self.ctl.loop.t < t_end, f"not reached: {self.ctl.supervisor.state.name}"
            self.ctl.loop.step()

    def aborts(self) -> list[dict]:
        return [f for k, f in self.events if k == "abort"]


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.ctl.loop.shutdown("test done")
    r.link.close()


def test_pressing_the_abort_switch_mid_burn_aborts_and_safes_once_and_blocks_arm(rig) -> None:
    ctl = rig.ctl
    ctl.load(SEQ / "tq12_hotfire_100.toml")
    assert not [c for c in ctl.arm_checks() if "abort switch" in c]
    ctl.arm()
    ctl.start()
    rig.until(lambda: ctl.loop.cs.burning and ctl.loop.cs.pc > 9.0)  # mainstage
    rig.press(True)
    rig.until(lambda: ctl.supervisor.state != State.RUNNING, limit_s=0.1)  # the PLC is read at 200 Hz
    assert ctl.supervisor.state == State.ABORTING
    assert ctl.supervisor.abort_reason == f"hardware abort switch pressed ({WHERE})"
    rig.until(lambda: ctl.supervisor.state == State.SAFE)
    rig.until(lambda: not ctl.supervisor.safing.active)
    eng = rig.link.firmware.engine
    assert eng.pos_ox == 0 and eng.pos_fuel == 0 and not eng.burning
    # held down: one abort, not one per cycle; ARM refused with the reason
    assert [a["source"] for a in rig.aborts()] == ["hardware abort switch"]
    with pytest.raises(Refused, match=r"the hardware abort switch is pressed \(abort_button: plc discrete input 4\)"):
        ctl.arm()
    reply = CommandProtocol(ctl).handle({"cmd": "arm", "client": "c1"})
    assert not reply["ok"] and "hardware abort switch is pressed" in reply["refused"]
    rig.press(False)
    rig.until(lambda: any(k == "abort_switch_released" for k, _ in rig.events), limit_s=0.1)
    ctl.arm()  # released: the next run may be armed (its reasons its own)
    assert ctl.supervisor.state == State.ARMED and ctl.supervisor.abort_reason == ""
    ctl.abort("test over")


def test_in_safe_the_abort_switch_re_asserts_safing(rig) -> None:
    ctl = rig.ctl
    assert ctl.set_output("purge", 1) == 1  # manual in SAFE
    rig.press(True)
    rig.until(lambda: bool(rig.aborts()), limit_s=0.1)
    assert rig.aborts()[0]["state"] == "SAFE" and rig.aborts()[0]["reason"].endswith(f"({WHERE})")
    assert ctl.supervisor.safing.active and ctl.supervisor.state == State.SAFE
    with pytest.raises(Refused, match="safing sequence is still running"):
        ctl.set_output("ox_main", 10)


def test_a_normally_closed_switch_reads_its_released_level_and_aborts_when_it_opens(tmp_path) -> None:
    """active = 0: a wire loop that opens when pressed (or broken). The simulator serves the
    released level (1) until pressed."""
    text = DEVICES.read_text().replace("channel = \"abort_button\"\nactive = 1", "channel = \"abort_button\"\nactive = 0")
    stand_path = tmp_path / "nc.toml"
    stand_path.write_text(text)
    stand = load_stand(stand_path)
    assert stand.abort_switch is not None and stand.abort_switch.active == 0
    link = open_link(stand, str(stand_path), "lockstep")
    ctl = Controller(stand, link.transports, link.clock)
    try:
        ctl.loop.start()
        while ctl.loop.t < 1.0:
            ctl.loop.step()
        assert ctl.loop.value("abort_button") == 1.0 and ctl.abort_switch is not None and not ctl.abort_switch.pressed
        set_fault(link.firmware, parse_fault("abort_switch@0"), True)
        while ctl.loop.t < 1.1:
            ctl.loop.step()
        assert ctl.loop.value("abort_button") == 0.0 and ctl.abort_switch.pressed
    finally:
        ctl.loop.shutdown("test done")
        link.close()


@pytest.mark.parametrize("change, key, message", [
    ('channel = "abort_button"\nactive = 1', "abort_switch.channel", "names no channel: 'mushroom'"),
    ('channel = "abort_button"\nactive = 1', "abort_switch.channel", "'pc' is read from the input table"),
    ('channel = "abort_button"\nactive = 1', "abort_switch.active", "active"),
])
def test_the_loader_checks_the_abort_switch_with_file_and_line(change, key, message) -> None:
    text = DEVICES.read_text()
    new = {"names no channel: 'mushroom'": 'channel = "mushroom"\nactive = 1',
           "'pc' is read from the input table": 'channel = "pc"\nactive = 1',
           "active": 'channel = "abort_button"\nactive = 2'}[message]
    bad = text.replace(change, new)
    line = bad.splitlines().index(new.splitlines()[0 if "channel" in key else 1]) + 1
    with pytest.raises(ConfigError) as err:
        parse_stand(bad, "stand.toml")
    assert err.value.line == line and message in str(err.value) and "stand.toml" in str(err.value)


def test_pressing_needs_a_stand_with_an_abort_switch(tmp_path, capsys) -> None:
    from firmware_sim.firmware import Firmware
    from hil.runner import EXIT_INVALID

    with pytest.raises(FaultSpecError, match="declares no \\[abort_switch\\]"):
        Firmware(load_stand(STANDS / "sim_tq12.toml"), faults=[parse_fault("abort_switch@3")])
    res = run(RunOptions(sequence=str(SEQ / "tq12_hotfire_100.toml"), stand=str(STANDS / "sim_tq12.toml"),
                         sim="lockstep", out=str(tmp_path / "run"), faults=("abort_switch@3",), progress=False))
    assert res.exit_code == EXIT_INVALID and res.run_dir is None  # refused before anything started
    assert "stand 'sim-tq12' declares no [abort_switch] to press" in capsys.readouterr().err


SWITCH = """
[[channels]]
name = "abort_button"
description = "Hardware ABORT button"
table = "discrete"
register = 0
source = "abort_switch"

[abort_switch]
channel = "abort_button"
active = 1

"""


@pytest.mark.slow
def test_hil_run_over_tcp_the_simulator_presses_the_switch_mid_burn(tmp_path) -> None:
    """`hil run --sim tcp --fault abort_switch@9+2`: the simulator child serves the press as a
    discrete input over Modbus TCP; the run is aborted mid-burn and safed, its summary naming the
    switch. (The single-device TQ-12 stand with a button added: the devices stand's RS-485
    thermocouple line does not yet read clean over TCP on a busy machine, issue 23.)"""
    text = (STANDS / "sim_tq12.toml").read_text()
    stand = tmp_path / "sim_tq12_button.toml"
    stand.write_text(text.replace("[[channels]]", SWITCH + "[[channels]]", 1))
    res = run(RunOptions(sequence=str(SEQ / "tq12_hotfire_100.toml"), stand=str(stand), sim="tcp",
                         out=str(tmp_path / "run"), faults=("abort_switch@9+2",), progress=False))
    s = res.summary
    assert res.exit_code == EXIT_ABORTED, s
    assert s["abort_reason"] == "hardware abort switch pressed (abort_button: stand discrete input 0)"
    assert len(s["burns"]) == 1 and 1.0 < s["burns"][0]["duration_s"] < 8.0  # cut short mid-burn
    from hil.record.recorder import read_events

    ev = [e for e in read_events(tmp_path / "run") if e["kind"] == "abort"]
    assert [(e["source"], e["state"]) for e in ev[:1]] == [("hardware abort switch", "RUNNING")]
    assert s["final_state"] == "SAFE" and s["transport"]["kind"] == "tcp"


def test_an_input_that_cannot_be_read_neither_presses_nor_releases() -> None:
    """docs/safety.md: an unreadable input (NaN, invalid) changes nothing; losing its device is
    a fault of its own."""
    import math

    from hil.cycle import CycleState
    from hil.safety.abort_switch import AbortSwitchWatch

    stand = load_stand(DEVICES, zero=False)
    calls: list[tuple] = []
    watch = AbortSwitchWatch(stand, lambda reason, source: calls.append((reason, source)),
                             lambda t, kind, **f: calls.append((kind, f)))
    cs = CycleState(len(stand.channels))
    i = watch.index

    def cycle(value: float, valid: bool = True) -> None:
        cs.values[:] = 0.0
        cs.valid[:] = True
        cs.values[i], cs.valid[i] = value, valid
        watch.on_cycle(cs)

    cycle(math.nan, valid=False)
    cycle(1.0, valid=False)  # out of range or stale: not trusted
    assert calls == [] and not watch.pressed
    cycle(1.0)
    assert calls == [(f"hardware abort switch pressed ({WHERE})", "hardware abort switch")] and watch.pressed
    cycle(math.nan, valid=False)
    cycle(1.0)  # still held: no second abort
    assert len(calls) == 1 and watch.pressed and watch.arm_checks()
    cycle(0.0)
    assert calls[-1] == ("abort_switch_released", {"channel": "abort_button"}) and not watch.arm_checks()
