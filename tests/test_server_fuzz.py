"""Hostile input to the simulated stand's Modbus server: random and malformed frames over TCP
and over an RTU pty (hypothesis). The server answers with exceptions or drops the frame, and
keeps serving valid requests afterwards."""

from __future__ import annotations

import socket
import struct

import pytest
from conftest import TQ12
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hil.stand import TransportConfig, load_stand
from hil.stand import firmware_map as fw
from hil.transport import open_transport

pytestmark = pytest.mark.timeout(300)

# a structured MBAP frame with any function code, address and count (including oversized ones)
mbap = st.builds(lambda tid, unit, fc, addr, count, tail: struct.pack(">HHHBBHH", tid, 0, 6 + len(tail), unit, fc, addr,
                                                                       count) + tail,
                 st.integers(0, 0xFFFF), st.integers(0, 255), st.integers(0, 255), st.integers(0, 0xFFFF),
                 st.integers(0, 0xFFFF), st.binary(max_size=260))
junk = st.binary(min_size=1, max_size=300)


def _valid_read(sock: socket.socket) -> list[int]:
    sock.sendall(struct.pack(">HHHBBHH", 4242, 0, 6, 1, 4, fw.IR_VERSION, 1))
    buf = b""
    while len(buf) < 11:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    return [struct.unpack(">H", buf[9:11])[0]]


# one simulator per module, shared by every example (hence the function-scoped-fixture check off)
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _simulator(mode: str):
    from hil.children import start_sim

    child = start_sim(TQ12, mode)
    yield child
    child.stop()


@pytest.fixture(scope="module")
def tcp_sim():
    yield from _simulator("tcp")


@pytest.fixture(scope="module")
def rtu_sim():
    yield from _simulator("rtu")


@settings(FUZZ, max_examples=150)
@given(frame=st.one_of(mbap, junk))
def test_tcp_server_survives_malformed_frames(tcp_sim, frame: bytes) -> None:
    with socket.create_connection(("127.0.0.1", tcp_sim.port), timeout=2) as s:
        s.sendall(frame)
        s.settimeout(0.05)
        try:
            s.recv(4096)  # an exception response, an answer, or nothing: all fine
        except (TimeoutError, ConnectionError):
            pass
    # a fresh connection still gets a correct answer
    with socket.create_connection(("127.0.0.1", tcp_sim.port), timeout=2) as s:
        assert _valid_read(s) == [fw.FIRMWARE_VERSION]
    assert tcp_sim.proc.poll() is None


def test_rtu_server_survives_garbage_and_bad_crcs(sim_factory, pty_pair) -> None:
    import random

    import serial

    sim_factory(TQ12, "--rtu", pty_pair.a)
    stand = load_stand(TQ12)
    cfg = TransportConfig(kind="rtu", device=pty_pair.b, baud=115200, unit=1, timeout_s=0.3, retries=1)
    rng = random.Random(7)
    good = bytes.fromhex("0104000a0001")  # read input register 10 (firmware version), CRC appended below
    from pymodbus.framer import FramerRTU

    crc = FramerRTU.compute_CRC(good).to_bytes(2, "big")
    with open_transport(stand, cfg) as tr:
        for i in range(60):
            with serial.Serial(pty_pair.b, 115200, timeout=0.02) as raw:
                if i % 3 == 0:
                    raw.write(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))  # line noise
                elif i % 3 == 1:
                    raw.write(good + bytes([crc[0] ^ 0xFF, crc[1]]))  # a valid frame with a bad CRC: dropped
                else:
                    raw.write(good[:3])  # a truncated frame
                raw.read(512)
            assert tr.read_registers("input", fw.IR_VERSION, 1) == [fw.FIRMWARE_VERSION]


def _rtu(body: bytes, crc_ok: bool = True) -> bytes:
    from pymodbus.framer import FramerRTU

    crc = FramerRTU.compute_CRC(body)
    return body + (crc if crc_ok else crc ^ 0xFFFF).to_bytes(2, "big")


# structured RTU frames with valid CRCs: any unit, function code, address and count, any tail
# (oversized counts, write requests whose byte count lies), plus frames with bad CRCs
rtu_frame = st.builds(lambda unit, fc, addr, count, tail, ok: _rtu(struct.pack(">BBHH", unit, fc, addr, count) + tail, ok),
                      st.sampled_from([1, 1, 1, 0, 2, 247, 255]), st.integers(0, 255), st.integers(0, 0xFFFF),
                      st.integers(0, 0xFFFF), st.binary(max_size=260), st.booleans())


@settings(FUZZ, max_examples=100)
@given(frame=st.one_of(rtu_frame, junk))
def test_rtu_server_survives_malformed_frames(rtu_sim, frame: bytes) -> None:
    import serial

    with serial.Serial(rtu_sim.device, 115200, timeout=0.03) as raw:
        raw.write(frame)
        raw.read(600)  # an exception response, an answer, or nothing: all fine
    stand = load_stand(TQ12)
    cfg = TransportConfig(kind="rtu", device=rtu_sim.device, baud=115200, unit=1, timeout_s=0.2, retries=2)
    with open_transport(stand, cfg) as tr:  # the line still carries a correct answer
        assert tr.read_registers("input", fw.IR_VERSION, 1) == [fw.FIRMWARE_VERSION]
    assert rtu_sim.proc.poll() is None
