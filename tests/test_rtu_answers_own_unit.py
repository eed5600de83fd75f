"""The simulated RS-485 line answers each request with its own unit's registers. pymodbus's
serial server stamped an answer with whichever request arrived last: when the master gave up
on a slow module (a timeout on a busy machine) and asked the next unit, the slow module's
answer went out as the next unit's, and the flowmeter's words reached the controller as the
thermocouple's float (wall_temp 9e-39 K, 1e-14 K: values no register ever held).

Raw frames on the pty pair, built and checked here (CRC included), so nothing between the test
and the simulator's server interprets them."""

from __future__ import annotations

import struct
import time

import pytest
import serial
from conftest import STANDS

from hil.children import start_sim

DEVICES = STANDS / "sim_tq12_devices.toml"
pytestmark = pytest.mark.timeout(120)


def crc16(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def read_request(unit: int) -> bytes:
    pdu = struct.pack(">BBHH", unit, 4, 0, 2)  # input registers 0-1
    return pdu + struct.pack("<H", crc16(pdu))


def frames(port: serial.Serial, n: int, within_s: float) -> list[tuple[int, list[int]]]:
    """The first ``n`` answers to a 2-register read (9 bytes each): (unit, registers)."""
    buf = b""
    deadline = time.monotonic() + within_s
    while len(buf) < 9 * n and time.monotonic() < deadline:
        buf += port.read(9 * n - len(buf))
    out = []
    for k in range(0, len(buf) - len(buf) % 9, 9):
        f = buf[k:k + 9]
        assert struct.unpack("<H", f[7:])[0] == crc16(f[:7]), f"bad CRC in {f.hex()}"
        assert f[1:3] == b"\x04\x04", f.hex()
        out.append((f[0], list(struct.unpack(">HH", f[3:7]))))
    return out


def test_a_late_answer_is_stamped_with_its_own_unit_not_the_next_requests() -> None:
    child = start_sim(DEVICES, "tcp", lines=("/dev/ttyHIL0",), faults=("slow_response:device=tc,delay=0.05@0",))
    try:
        port = serial.Serial(child.ptys["/dev/ttyHIL0"].b, baudrate=115200, timeout=0.05)
        try:
            port.write(read_request(3))  # the thermocouple module: answers 50 ms late
            time.sleep(0.01)  # the master's 10 ms timeout runs out (the scenario, not a wait for a result)
            port.write(read_request(4))  # ... and it asks the flowmeter module
            got = frames(port, 2, within_s=2.0)
        finally:
            port.close()
    finally:
        child.stop()
    assert sorted(u for u, _ in got) == [3, 4], got
    tc = next(regs for u, regs in got if u == 3)
    flow = next(regs for u, regs in got if u == 4)
    wall_k = struct.unpack(">f", struct.pack(">HH", tc[1], tc[0]))[0]  # the module sends the low word first
    assert 200.0 < wall_k < 1400.0, f"unit 3 answered {tc} = {wall_k:g} K"
    assert flow != tc
