"""The simulated stand over real Modbus: `hil sim` child processes on loopback TCP and on a
pty pair (hil/ptypair.py), driven by pymodbus clients and by Debian's mbpoll (a master written by others).
"""

from __future__ import annotations

import socket
import struct
import subprocess
import time

import pytest
from conftest import LAB, TQ12, mbpoll_values
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from hil.stand import firmware_map as fw
from hil.stand import load_stand
from hil.stand.registers import decode

pytestmark = pytest.mark.timeout(60)


def pc_mpa(stand_path, raw: int) -> float:
    return float(load_stand(stand_path).channel("pc").calibration.to_eng(raw))


def poll_until(read, predicate, timeout: float = 10.0):
    """Read repeatedly until ``predicate(value)`` holds; return the value (fails on timeout)."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = read()
        if predicate(value):
            return value
    raise AssertionError(f"condition not met within {timeout} s; last value {value!r}")


def ir(client, address: int, count: int) -> list[int]:
    r = client.read_input_registers(address, count=count, device_id=1)
    assert not r.isError(), r
    return r.registers


def test_tcp_read_all_sensors_in_one_block_and_fire_by_writing_registers(sim_factory) -> None:
    stand = load_stand(LAB)
    sim = sim_factory(LAB)
    with ModbusTcpClient("127.0.0.1", port=sim.port, timeout=2) as c:
        regs = ir(c, 0, stand.input_register_count)  # every sensor + the system block in one read
        assert len(regs) == stand.input_register_count
        assert regs[fw.IR_STATE] == fw.FwState.NORMAL
        assert regs[fw.IR_VERSION] == fw.FIRMWARE_VERSION
        pc0 = pc_mpa(LAB, regs[stand.channel("pc").register])
        assert pc0 == pytest.approx(0.101, abs=0.03)  # ambient
        # all commands in one block write: heartbeat, then the actuators. The igniter first, proven
        # on its own pressure before the main valves open: opened all at once onto a torch that
        # lights 20 ms later, the start overshoots to ≈ 2.9 MPa, beyond the 2.6 MPa limit, and the
        # firmware's hard-start trip safes the stand (tests/test_hardstart_trip.py)
        hr = [0] * stand.holding_register_count
        hr[stand.actuator("igniter").register] = 1
        assert not c.write_registers(0, hr, device_id=1).isError()
        ign_reg = stand.channel("p_ign").register
        poll_until(lambda: ir(c, ign_reg, 1), lambda r: pc_mpa(LAB, r[0]) > 0.4)
        hr[stand.actuator("ox_main").register] = 5000
        hr[stand.actuator("fuel_main").register] = 5000
        assert not c.write_registers(0, hr, device_id=1).isError()
        assert c.read_holding_registers(0, count=len(hr), device_id=1).registers == hr
        pc_reg = stand.channel("pc").register
        regs = poll_until(lambda: ir(c, pc_reg, 1), lambda r: abs(pc_mpa(LAB, r[0]) - 2.0) < 0.1)
        assert pc_mpa(LAB, regs[0]) == pytest.approx(2.0, rel=0.05)
        # heartbeat echo: the firmware saw our write
        hr[fw.HR_HEARTBEAT] = 4242
        c.write_registers(0, hr, device_id=1)
        assert ir(c, fw.IR_HEARTBEAT_ECHO, 1) == [4242]
        assert ir(c, fw.IR_STATUS, 1)[0] & fw.Status.WATCHDOG_ENGAGED
        # then the master goes quiet: the firmware safes the stand on its own
        state = poll_until(lambda: ir(c, 0, fw.IR_SYSTEM_COUNT), lambda r: r[fw.IR_STATE] == fw.FwState.SAFED)
        assert state[fw.IR_TRIPS] & fw.Trip.WATCHDOG
        trip = decode(state[fw.IR_TRIP_TIME_MS:fw.IR_TRIP_TIME_MS + 2], "u32")
        beat = decode(state[fw.IR_HEARTBEAT_TIME_MS:fw.IR_HEARTBEAT_TIME_MS + 2], "u32")
        assert 100 <= trip - beat <= 102  # watchdog_s = 0.1 on the simulator's clock
        poll_until(lambda: ir(c, pc_reg, 1), lambda r: pc_mpa(LAB, r[0]) < 0.3)
    out = sim.stop()
    assert "stopped at" in out


def test_tcp_bad_requests_get_exception_responses_and_the_server_keeps_serving(sim_factory) -> None:
    stand = load_stand(TQ12)
    sim = sim_factory(TQ12)
    with ModbusTcpClient("127.0.0.1", port=sim.port, timeout=2) as c:
        r = c.read_input_registers(stand.input_register_count, count=4, device_id=1)
        assert r.isError() and r.exception_code == 2  # illegal data address
        r = c.read_input_registers(0, count=125, device_id=1)
        assert r.isError() and r.exception_code == 2
        r = c.write_registers(stand.holding_register_count, [1], device_id=1)
        assert r.isError() and r.exception_code == 2
        r = c.read_coils(100, count=8, device_id=1)
        assert r.isError()
        r = c.read_input_registers(0, count=4, device_id=9)  # a unit that is not there
        assert r.isError() and r.exception_code in (4, 11)
    # garbage on a raw socket: malformed MBAP headers, a truncated frame, random bytes
    with socket.create_connection(("127.0.0.1", sim.port), timeout=2) as s:
        s.sendall(b"\x00\x01\x00\x00\x00\x02\x01")  # truncated
        s.sendall(bytes(range(256)))
        s.sendall(struct.pack(">HHHBB", 7, 0, 2, 1, 0x99))  # unknown function code 0x99
    with ModbusTcpClient("127.0.0.1", port=sim.port, timeout=2) as c:
        assert ir(c, fw.IR_VERSION, 1) == [fw.FIRMWARE_VERSION]
    assert sim.proc.poll() is None


def test_tcp_single_writes_count_limits_and_a_split_pipelined_stream(sim_factory) -> None:
    """The simulator's own Modbus TCP server (firmware_sim/tcp.py) against pymodbus's client:
    function codes 5 and 6, the spec's count limits, and a byte stream cut anywhere."""
    stand = load_stand(TQ12)
    sim = sim_factory(TQ12)
    hb = fw.HR_HEARTBEAT
    with ModbusTcpClient("127.0.0.1", port=sim.port, timeout=2) as c:
        assert not c.write_register(hb, 1234, device_id=1).isError()  # FC 6
        assert c.read_holding_registers(hb, count=1, device_id=1).registers == [1234]
        assert ir(c, fw.IR_HEARTBEAT_ECHO, 1) == [1234]  # it reached the firmware, not a copy
        r = c.write_coil(0, True, device_id=1)  # FC 5: this stand has no coils
        assert r.isError() and r.exception_code == 2
    req = lambda tid, fc, addr, n: struct.pack(">HHHBBHH", tid, 0, 6, 1, fc, addr, n)  # noqa: E731
    with socket.create_connection(("127.0.0.1", sim.port), timeout=2) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # FC 5 with a value other than 0xFF00/0x0000: illegal data value
        s.sendall(req(1, 5, 0, 0x1234))
        assert s.recv(64)[7:9] == bytes((0x85, 3))
        s.sendall(req(2, 3, 0, 126))  # over the spec's 125 registers: illegal data value
        assert s.recv(64)[7:9] == bytes((0x83, 3))
        # three requests in one stream, cut mid-header and mid-PDU: three answers, in order
        stream = req(10, 4, fw.IR_VERSION, 1) + req(11, 3, hb, 1) + req(12, 4, 0, stand.input_register_count)
        for piece in (stream[:3], stream[3:15], stream[15:]):  # separate segments (TCP_NODELAY)
            s.sendall(piece)
        want = 11 + 11 + 9 + 2 * stand.input_register_count
        buf = b""
        while len(buf) < want:
            buf += s.recv(4096)
        tids = [struct.unpack_from(">H", buf, off)[0] for off in (0, 11, 22)]
        assert tids == [10, 11, 12]
        assert struct.unpack_from(">H", buf, 9)[0] == fw.FIRMWARE_VERSION
        assert struct.unpack_from(">H", buf, 20)[0] == 1234
        # a header that cannot be Modbus (protocol id 1) closes the connection
        s.sendall(struct.pack(">HHHBBHH", 13, 1, 6, 1, 4, 0, 1))
        assert s.recv(64) == b""


def test_tcp_stop_answering_and_slow_response_faults(sim_factory) -> None:
    sim = sim_factory(LAB, "--fault", "stop_answering@1.0+0.5", "--fault", "slow_response:delay=0.05@2.0")
    with ModbusTcpClient("127.0.0.1", port=sim.port, timeout=0.2, retries=0) as c:
        clock = lambda: decode(ir(c, fw.IR_TIME_MS, 2), "u32") / 1000.0  # noqa: E731
        t = clock()
        assert t < 1.0, "the simulator took too long to start for this test's timeline"
        # wait (by reading the simulator clock) until the outage, then see the silence
        silent = 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and silent == 0:
            try:
                clock()
            except ModbusIOException:
                silent += 1
        assert silent, "no request went unanswered during the outage"
        # it comes back by itself after 0.5 s
        t_back = poll_until(lambda: _try(clock), lambda v: v is not None)
        assert 1.4 <= t_back < 2.5
        # after t=2 s every answer is delayed by 50 ms
        poll_until(lambda: _try(clock), lambda v: v is not None and v > 2.05)
        c.comm_params.timeout_connect = 1.0
    with ModbusTcpClient("127.0.0.1", port=sim.port, timeout=1.0) as c:
        t0 = time.perf_counter()
        ir(c, 0, 1)
        assert time.perf_counter() - t0 >= 0.05


def _try(fn):
    try:
        return fn()
    except ModbusIOException:
        return None


def test_rtu_over_a_pty_pair(sim_factory, pty_pair) -> None:
    stand = load_stand(TQ12)
    sim_factory(TQ12, "--rtu", pty_pair.a, "--baud", "115200")
    c = ModbusSerialClient(pty_pair.b, baudrate=115200, timeout=1)
    assert c.connect()
    try:
        regs = ir(c, 0, stand.input_register_count)
        assert regs[fw.IR_VERSION] == fw.FIRMWARE_VERSION
        assert pc_mpa(TQ12, regs[stand.channel("pc").register]) == pytest.approx(0.101, abs=0.03)
        hr = [0] * stand.holding_register_count
        hr[stand.actuator("purge").register] = 1
        assert not c.write_registers(0, hr, device_id=1).isError()
        purge = stand.channel("p_purge")
        poll_until(lambda: ir(c, purge.register, 1),
                   lambda r: float(purge.calibration.to_eng(r[0])) > 1.0)
        r = c.read_input_registers(500, count=2, device_id=1)
        assert r.isError() and r.exception_code == 2
    finally:
        c.close()


def test_mbpoll_reads_pc_over_tcp_and_writes_valves(sim_factory, mbpoll) -> None:
    stand = load_stand(LAB)
    sim = sim_factory(LAB)
    pc = stand.channel("pc").register
    base = [mbpoll, "-m", "tcp", "-p", str(sim.port), "-a", "1", "-0", "-1"]
    out = subprocess.run([*base, "-t", "3", "-r", str(pc), "-c", "1", "127.0.0.1"],
                         capture_output=True, text=True, timeout=20).stdout
    assert pc_mpa(LAB, mbpoll_values(out)[pc]) == pytest.approx(0.101, abs=0.03)
    # a person opening the valves with mbpoll: the igniter, proven on its own pressure (opened all at
    # once, the start overshoots beyond the limit and the firmware's hard-start trip safes the
    # stand), then LOX and fuel (holding registers 4 .. 6)
    ox, fuel, ign = (stand.actuator(n).register for n in ("ox_main", "fuel_main", "igniter"))
    assert (ox, fuel, ign) == (4, 5, 6)
    r = subprocess.run([*base, "-t", "4", "-r", "6", "127.0.0.1", "1"], capture_output=True, text=True, timeout=20)
    assert "Written 1 references" in r.stdout, r.stdout + r.stderr

    def read_mpa(reg: int) -> float:
        o = subprocess.run([*base, "-t", "3", "-r", str(reg), "-c", "1", "127.0.0.1"],
                           capture_output=True, text=True, timeout=20).stdout
        return pc_mpa(LAB, mbpoll_values(o)[reg])

    poll_until(lambda: read_mpa(stand.channel("p_ign").register), lambda v: v > 0.4)
    r = subprocess.run([*base, "-t", "4", "-r", "4", "127.0.0.1", "5000", "5000"],
                       capture_output=True, text=True, timeout=20)
    assert "Written 2 references" in r.stdout, r.stdout + r.stderr

    def read_pc() -> float:
        return read_mpa(pc)

    poll_until(read_pc, lambda v: v > 1.9)
    assert read_pc() == pytest.approx(2.0, rel=0.06)  # and it stays there


def test_mbpoll_reads_pc_over_the_pty(sim_factory, pty_pair, mbpoll) -> None:
    stand = load_stand(TQ12)
    sim_factory(TQ12, "--rtu", pty_pair.a, "--baud", "115200")
    pc = stand.channel("pc").register
    out = subprocess.run([mbpoll, "-m", "rtu", "-b", "115200", "-P", "none", "-a", "1", "-0", "-1",
                          "-t", "3", "-r", str(pc), "-c", "2", pty_pair.b],
                         capture_output=True, text=True, timeout=20)
    vals = mbpoll_values(out.stdout)
    assert set(vals) == {pc, pc + 1}, out.stdout + out.stderr
    assert pc_mpa(TQ12, vals[pc]) == pytest.approx(0.101, abs=0.03)


def test_sim_rejects_bad_input_with_a_clear_message(tmp_path) -> None:
    import sys

    from conftest import ROOT

    bad = tmp_path / "bad.toml"
    bad.write_text(LAB.read_text().replace('type = "u16"', 'type = "u17"', 1))
    r = subprocess.run([sys.executable, "-m", "hil.cli", "sim", "--stand", str(bad), "--tcp", "127.0.0.1:0"],
                       capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert r.returncode == 1
    assert "bad.toml:" in r.stderr and "channels[0].type" in r.stderr and "u17" in r.stderr
    r = subprocess.run([sys.executable, "-m", "hil.cli", "sim", "--stand", str(LAB), "--fault", "nope@1"],
                       capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert r.returncode == 1 and "unknown fault 'nope'" in r.stderr
