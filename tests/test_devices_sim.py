"""The simulated stand as four devices (sim_tq12_devices.toml): the three-burn sequence gives the
single-device stand's figures; losing a critical device latches FAULT and safes through the
devices that still answer, losing a non-critical one disqualifies its channels and the redlines
decide; the valve PLC's own watchdog safes the valves when the heartbeat stops and a heartbeat
echo that does not follow counts as a lost device; `hil sim` serves every device (coils and
discrete inputs to mbpoll and pymodbus, two units on a paced RTU line)."""

from __future__ import annotations

import dataclasses
import json
import statistics
import subprocess
import time
from pathlib import Path

import pytest
from conftest import STANDS, mbpoll_values, skip_if_the_machine_stalled
from pymodbus.client import ModbusSerialClient, ModbusTcpClient

from firmware_sim.firmware import Firmware
from hil.bench.load_runs import one_run
from hil.children import start_sim
from hil.controller import Controller
from hil.cycle.clock import VirtualClock
from hil.runner import EXIT_FAULT, EXIT_OK, RunOptions, run
from hil.safety.supervisor import State
from hil.stand import firmware_map as fw
from hil.stand import load_stand, parse_stand
from hil.stand.devices import read_bytes, wire_time
from hil.transport.lockstep import LockstepTransport

DEVICES = STANDS / "sim_tq12_devices.toml"
pytestmark = pytest.mark.timeout(300)


def _run(tmp_path: Path, name: str, stand: str | Path | None = None, faults: tuple[str, ...] = ()) -> tuple[int, dict]:
    res = run(RunOptions(sequence="tq12_three_burn", stand=str(stand or DEVICES), sim="lockstep",
                         out=str(tmp_path / name), progress=False, faults=faults))
    return res.exit_code, json.loads((tmp_path / name / "summary.json").read_text())


def _events(tmp_path: Path, name: str) -> list[dict]:
    return [json.loads(x) for x in (tmp_path / name / "events.jsonl").read_text().splitlines()]


def test_three_burns_on_four_devices_match_the_single_device_stand(tmp_path) -> None:
    code_one, one = _run(tmp_path, "one", stand="sim_tq12")
    code_dev, dev = _run(tmp_path, "dev")
    assert code_one == code_dev == EXIT_OK
    assert len(one["burns"]) == len(dev["burns"]) == 3
    for a, b in zip(one["burns"], dev["burns"]):
        assert b["ignition_delay_s"] == pytest.approx(a["ignition_delay_s"], abs=0.002)
        assert b["t90_s"] == pytest.approx(a["t90_s"], abs=0.03)
        assert b["duration_s"] == pytest.approx(a["duration_s"], abs=0.02)
        assert b["pc_mean_mpa"] == pytest.approx(a["pc_mean_mpa"], rel=0.005)
        assert b["of_mean"] == pytest.approx(a["of_mean"], rel=0.01)  # flowmeters on the 50 Hz module
    assert set(dev["devices"]) == {"daq", "plc", "tc", "flow"}
    assert dev["devices"]["tc"]["transactions"] < dev["devices"]["flow"]["transactions"]


@pytest.mark.slow
def test_three_burns_over_tcp_and_a_paced_rs485_line_match_the_single_device_stand(tmp_path) -> None:
    """The issue's bar: the real multi-device path (two TCP servers, two units on a pty paced at
    115200 baud, the line in its own thread) gives the single-device stand's burn figures.

    The real-time run is `hil run` in its own process, as a crew starts it (run inside the test
    process, after 140 other tests, it once aborted on a degraded loop in CI on a slow day; the
    same run as its own process completes beside a CPU hog, tests/test_load_runs.py). Its mean Pc
    and O/F are over time (hil/record/metrics.py), so the cycles a slow day skips do not move them."""
    code_one, one = _run(tmp_path, "one", stand="sim_tq12")
    row = one_run("tq12_three_burn", str(DEVICES), tmp_path / "tcp", rt_priority=None, timeout_s=240.0)
    dev = json.loads((tmp_path / "tcp" / "summary.json").read_text())
    skip_if_the_machine_stalled(dev)
    assert code_one == row["exit_code"] == EXIT_OK, (row.get("reason"), dev.get("loop"))
    for a, b in zip(one["burns"], dev["burns"], strict=True):
        assert b["ignition_delay_s"] == pytest.approx(a["ignition_delay_s"], abs=0.01)
        # the simulator runs real time in its own process: when CI starves it of CPU its plant
        # falls behind the controller's clock, and the mainstage wait (sequence clock stopped)
        # lasts longer — 52 ms once on a loaded 2-core runner; 0.1 s is 1 % of a burn
        assert b["duration_s"] == pytest.approx(a["duration_s"], abs=0.1)
        assert b["pc_mean_mpa"] == pytest.approx(a["pc_mean_mpa"], rel=0.02)
        assert b["of_mean"] == pytest.approx(a["of_mean"], rel=0.02)
    rtu = dev["devices"]["flow"]["transactions"] / dev["wall_s"]
    assert 30 < rtu <= 51  # the flowmeter module at its 50 Hz, in its line thread


def test_each_device_is_read_at_its_own_rate() -> None:
    """One simulated second in SAFE: the DAQ every cycle (1 block), the PLC at 200 Hz (input
    registers and discrete inputs) plus its 20 Hz heartbeat, the modules at 20 and 50 Hz."""
    stand = load_stand(DEVICES)
    f = Firmware(stand)
    transports = {d.name: LockstepTransport(f, d.name) for d in stand.devices}
    ctl = Controller(stand, transports, VirtualClock(f))
    ctl.loop.start()
    for _ in range(1000):
        ctl.loop.step()
    n = {name: t.stats.transactions for name, t in transports.items()}
    assert n["daq"] == 1000
    writes_plc = 20 + 2  # heartbeats, and the first write of its holding and coil images
    assert n["plc"] == pytest.approx(200 * 2 + writes_plc, abs=3)
    assert n["tc"] == pytest.approx(20, abs=1) and n["flow"] == pytest.approx(50, abs=1)


def test_losing_the_critical_daq_mid_burn_faults_and_safes_through_the_plc(tmp_path) -> None:
    code, s = _run(tmp_path, "daq", faults=("stop_answering:device=daq@5",))
    assert code == EXIT_FAULT and s["outcome"] == "fault"
    assert "communication lost with device 'daq'" in s["abort_reason"]
    plant = s["firmware"]
    assert plant["pos_ox"] == plant["pos_fuel"] == 0.0 and not plant["burning"]  # the PLC still answered
    lost = [e for e in _events(tmp_path, "daq") if e["kind"] == "device_lost"]
    assert [(e["device"], e["critical"]) for e in lost] == [("daq", True)]


def test_losing_the_flowmeter_module_disqualifies_its_channels_and_the_run_completes(tmp_path) -> None:
    code, s = _run(tmp_path, "flow", faults=("stop_answering:device=flow@5",))
    assert code == EXIT_OK and len(s["burns"]) == 3
    # unknown (NaN, the device named), not failed transducers: no redline watches them
    assert s["unknown_sensors"] == {"mdot_ox": "no answer from device 'flow': the device is lost",
                                    "mdot_fuel": "no answer from device 'flow': the device is lost"}
    assert not s["disqualified_sensors"]
    ev = _events(tmp_path, "flow")
    assert [(e["device"], e["critical"]) for e in ev if e["kind"] == "device_lost"] == [("flow", False)]
    assert any(e["kind"] == "device_stale" and e["device"] == "flow" for e in ev)


def test_losing_the_thermocouple_module_mid_burn_lets_its_redline_decide(tmp_path) -> None:
    code, s = _run(tmp_path, "tc", faults=("stop_answering:device=tc@5",))
    assert code == EXIT_FAULT
    # the module is lost after 3 polls; the redline it feeds is blind 310 ms after its last sample
    assert "redline wall_temp is blind: no fresh sample for 31" in s["abort_reason"]
    assert "ms, more than its 310 ms tolerance" in s["abort_reason"]
    assert "no answer from device 'tc': the device is lost" in s["abort_reason"]


def test_a_device_answering_with_exceptions_is_lost_like_a_silent_one(tmp_path) -> None:
    code, s = _run(tmp_path, "exc", faults=("exception_response:code=4,device=plc@5",))
    assert code == EXIT_FAULT and "communication lost with device 'plc'" in s["abort_reason"]


def test_the_plc_watchdog_safes_the_valves_and_rearms_when_the_heartbeat_returns() -> None:
    stand = load_stand(DEVICES)
    f = Firmware(stand)
    iso = stand.actuator("ox_iso").register
    beat = 0

    def heartbeat(seconds: float) -> None:
        nonlocal beat
        for _ in range(round(seconds / 0.05)):
            beat += 1
            f.write("plc", "holding", 0, [beat])
            f.advance(0.05)

    f.write("plc", "coil", iso, [1])
    heartbeat(1.0)
    assert f.engine.pos_ox_iso == pytest.approx(1.0) and f.state == fw.FwState.NORMAL
    f.advance(0.2)  # 200 ms without a beat: inside the 250 ms watchdog
    assert f.state == fw.FwState.NORMAL
    f.advance(0.1)
    assert f.state == fw.FwState.SAFED and any("watchdog of plc" in what for _, what in f.events)
    f.advance(0.5)
    assert f.engine.pos_ox_iso == pytest.approx(0.0)  # the PLC closed it by itself
    heartbeat(6.0)  # beats again, but the coil still commands the valve open: stays latched
    assert f.state == fw.FwState.SAFED
    f.write("plc", "coil", iso, [0])
    heartbeat(0.2)
    assert f.state == fw.FwState.NORMAL


def test_a_heartbeat_echo_that_does_not_follow_is_a_lost_device() -> None:
    stand = load_stand(DEVICES)
    f = Firmware(stand)
    face = f.faces["plc"]
    assert face.heartbeat is not None
    face.heartbeat = dataclasses.replace(face.heartbeat, echo=None)  # a PLC whose watchdog block is not running
    ctl = Controller(stand, {d.name: LockstepTransport(f, d.name) for d in stand.devices}, VirtualClock(f))
    ctl.loop.start()
    for _ in range(1000):
        ctl.loop.step()
        if ctl.supervisor.state == State.FAULT:
            break
    assert ctl.supervisor.state == State.FAULT
    assert "heartbeat echo (register 0) stuck at 0" in ctl.supervisor.fault_reason
    assert ctl.loop.t < 0.5  # 3 beats at 20 Hz + the PLC's period + its timeouts


@pytest.mark.slow
def test_hil_sim_serves_every_device_coils_discretes_and_a_paced_rtu_line(mbpoll) -> None:
    stand = load_stand(DEVICES)
    child = start_sim(DEVICES, "tcp", lines=("/dev/ttyHIL0",))
    try:
        where = child.ready["devices"]
        assert set(where) == {"daq", "plc", "tc", "flow"} and where["tc"] == where["flow"]
        plc_port = int(where["plc"].rsplit(":", 1)[1])
        iso = stand.actuator("fuel_iso").register
        with ModbusTcpClient("127.0.0.1", port=plc_port) as c:
            assert not c.write_coils(iso, [True], device_id=1).isError()
            assert c.read_coils(0, count=4, device_id=1).bits[:4] == [False, True, False, False]
            deadline = time.monotonic() + 10
            ls_open = stand.channel("fuel_iso_open").register
            while not c.read_discrete_inputs(ls_open, count=1, device_id=1).bits[0]:
                assert time.monotonic() < deadline, "the fuel isolation valve never reached its open limit switch"
                time.sleep(0.01)  # poll the switch, as a PLC scan would, without flooding the simulator
        # an independent master: mbpoll reads the same coil and limit switches (types 0 and 1)
        base = [mbpoll, "-m", "tcp", "-p", str(plc_port), "-a", "1", "-0", "-1"]
        coils = subprocess.run([*base, "-t", "0", "-r", "0", "-c", "4", "127.0.0.1"], capture_output=True,
                               text=True, timeout=20).stdout
        assert mbpoll_values(coils) == {0: 0, 1: 1, 2: 0, 3: 0}, coils
        switches = subprocess.run([*base, "-t", "1", "-r", "2", "-c", "2", "127.0.0.1"], capture_output=True,
                                  text=True, timeout=20).stdout
        assert mbpoll_values(switches) == {2: 1, 3: 0}, switches  # fuel isolation valve open, not closed
        # two units on the RS-485 line, answering no faster than the wire at 115200 baud allows
        with ModbusSerialClient(child.ptys["/dev/ttyHIL0"].b, baudrate=115200, timeout=1) as rc:
            times = []
            for _ in range(15):
                t0 = time.perf_counter()
                r = rc.read_input_registers(0, count=2, device_id=4)
                times.append(time.perf_counter() - t0)
                assert not r.isError()
            t = rc.read_input_registers(0, count=2, device_id=3)
            assert not t.isError()
        assert statistics.median(times) >= wire_time(115200, *read_bytes("input", 2))
    finally:
        child.stop()


def test_the_firmware_protocol_is_one_option_of_one_device() -> None:
    """hil-stand-1 on the DAQ of a stand of four devices: its system block is read from that
    device (channels moved above it), its heartbeat keeps that device's watchdog engaged and
    satisfied, while the PLC keeps its plain heartbeat."""
    text = DEVICES.read_text()
    for k in range(10, -1, -1):  # the DAQ's channels move above the protocol's 16 system registers
        text = text.replace(f'device = "daq"\nregister = {k}\n', f'device = "daq"\nregister = {k + 16}\n')
    text = text.replace('critical = true             # no chamber pressure', 'protocol = "hil-stand-1"\ncritical = true  #')
    text = text.replace("[loop]", '[firmware]\nwatchdog_s = 0.1\noverpressure_channel = "pc"\noverpressure_limit = 13.0\n\n[loop]')
    stand = parse_stand(text, "fw_on_daq.toml")
    assert stand.firmware_device == "daq" and stand.channel("pc").register == 16
    f = Firmware(stand)
    ctl = Controller(stand, {d.name: LockstepTransport(f, d.name) for d in stand.devices}, VirtualClock(f))
    ctl.loop.start()
    for _ in range(300):
        ctl.loop.step()
    sysblk = ctl.loop.decoder.system()
    assert sysblk is not None and sysblk[fw.IR_STATE] == fw.FwState.NORMAL
    assert sysblk[fw.IR_STATUS] & fw.Status.WATCHDOG_ENGAGED and f.faces["plc"].hb_seen
    assert ctl.supervisor.state == State.SAFE and ctl.loop.value("pc") == pytest.approx(0.1, abs=0.2)
