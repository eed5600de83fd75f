"""An answer belongs to its request, or it is discarded (issue 23): each kind of mismatch, sent by
a responder of our own on a real pty pair (Modbus RTU) and on a real socket (Modbus TCP). A
mismatched frame carrying other values is followed by the right answer: the transport returns the
right values and counts the dropped frame, so a test fails both if the wrong frame is decoded and
if it is not counted."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from rs485 import Req, Rs485Line, Unit, frame
from tcp_device import ScriptedTcpDevice

from hil.errors import DeviceException, TransportError, TransportTimeout
from hil.stand import TransportConfig
from hil.stand.devices import quiet_after_timeout
from hil.transport.modbus_rtu import RtuTransport, SerialLine
from hil.transport.modbus_tcp import TcpTransport

pytestmark = pytest.mark.timeout(60)

GOOD = [0x1111, 0x2222, 0x3333, 0x4444]
BAD = [0xDEAD] * 4
TIMEOUT = 0.2  # the master gives up after this; generous, so a loaded machine does not make a prompt answer late


def _regs(values: list[int]) -> bytes:
    return b"".join(struct.pack(">H", v) for v in values)


def _rtu(pty_pair, mangle: Callable[[Req, bytes], bytes] | None = None,
         delay: Callable[[Req], float | None] = lambda r: 0.0) -> tuple[Rs485Line, RtuTransport]:
    unit = Unit(3, inputs={i: v for i, v in enumerate(GOOD)} | {100 + i: 0x5000 + i for i in range(4)},
                mangle=mangle, delay=delay)
    line = Rs485Line(pty_pair.a, [unit])
    cfg = TransportConfig(kind="rtu", device=pty_pair.b, baud=115200, unit=3, timeout_s=TIMEOUT, retries=0)
    tr = RtuTransport(cfg, SerialLine(cfg))
    tr.connect()
    return line, tr


@pytest.mark.parametrize(("kind", "wrong"), [
    ("wrong_unit", lambda req: frame(9, bytes([4, 8]) + _regs(BAD))),
    ("wrong_function", lambda req: frame(3, bytes([3, 8]) + _regs(BAD))),
    ("wrong_count", lambda req: frame(3, bytes([4, 10]) + _regs(BAD + [0xDEAD]))),
])
def test_rtu_a_mismatched_read_answer_is_dropped_and_counted(pty_pair, kind: str, wrong) -> None:
    line, tr = _rtu(pty_pair, mangle=lambda req, good: wrong(req) + good)
    try:
        assert tr.read_registers("input", 0, 4) == GOOD
        assert getattr(tr.stats, kind) == 1 and tr.stats.dropped() == 1
    finally:
        tr.close()
        line.close()


def test_rtu_a_wrong_write_echo_is_dropped_and_the_write_times_out_without_its_own(pty_pair) -> None:
    echo = {"right": True}

    def mangle(req: Req, good: bytes) -> bytes:
        wrong = frame(3, struct.pack(">BHH", 16, req.address + 1, req.count))
        return wrong + good if echo["right"] else wrong

    line, tr = _rtu(pty_pair, mangle=mangle)
    try:
        tr.write_registers(20, [7, 8], wait=True)
        assert tr.stats.wrong_echo == 1
        echo["right"] = False
        with pytest.raises(TransportTimeout):
            tr.write_registers(20, [7, 8], wait=True)
        assert tr.stats.wrong_echo == 2
    finally:
        tr.close()
        line.close()


def test_rtu_a_bad_crc_is_counted_and_never_decoded(pty_pair) -> None:
    corrupt = {"on": True}

    def mangle(req: Req, good: bytes) -> bytes:
        bad = frame(3, bytes([4, 8]) + _regs(BAD))
        return bad[:-1] + bytes([bad[-1] ^ 0xFF]) if corrupt["on"] else good

    line, tr = _rtu(pty_pair, mangle=mangle)
    try:
        with pytest.raises(TransportTimeout):
            tr.read_registers("input", 0, 4)
        assert tr.stats.crc_errors == 1
        corrupt["on"] = False
        assert tr.read_registers("input", 0, 4) == GOOD
    finally:
        tr.close()
        line.close()


def test_rtu_an_exception_answer_to_the_same_function_is_a_device_exception(pty_pair) -> None:
    line, tr = _rtu(pty_pair, mangle=lambda req, good: frame(3, bytes([0x84, 2])))
    try:
        with pytest.raises(DeviceException) as exc:
            tr.read_registers("input", 0, 4)
        assert exc.value.code == 2 and tr.stats.exceptions == 1
    finally:
        tr.close()
        line.close()


def test_rtu_a_late_answer_is_never_taken_for_the_next_requests(pty_pair) -> None:
    """The first read's answer comes 5 ms after the master gave up; the next read asks for a
    block of the same size, which the unit answers in 15 ms. Without the quiet rule (only
    reset_input_buffer before the send) the late answer arrived after the next request went out,
    before its own answer, and was returned as its values."""
    first = {"done": False}

    def delay(req: Req) -> float:
        late = not first["done"]
        first["done"] = True
        return TIMEOUT + 0.005 if late else 0.015

    line, tr = _rtu(pty_pair, delay=delay)
    try:
        with pytest.raises(TransportTimeout):
            tr.read_registers("input", 0, 4)
        assert tr.read_registers("input", 100, 4) == [0x5000, 0x5001, 0x5002, 0x5003]
        assert tr.stats.late_answers == 1 and tr.stats.timeouts == 1
    finally:
        tr.close()
        line.close()


def test_the_documented_quiet_time_at_115200_baud() -> None:
    """docs/stand-config.md's worked example: 30 ms timeout, a 64-register answer (133 bytes)."""
    assert quiet_after_timeout(0.030, 133, 115200) == pytest.approx(0.030 + 133 * 10 / 115200 + 0.00175)
    assert round(quiet_after_timeout(0.030, 133, 115200) * 1e3, 2) == 43.30
    assert quiet_after_timeout(0.030, 133, 115200, "E") == pytest.approx(0.030 + 133 * 11 / 115200 + 0.00175)
    assert quiet_after_timeout(0.030, 133, 9600) == pytest.approx(0.030 + 133 * 10 / 9600 + 3.5 * 11 / 9600)


# ------------------------------------------------------------------------------ Modbus TCP


def mbap(tid: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def _read_answer(values: list[int]) -> bytes:
    return bytes([4, 2 * len(values)]) + _regs(values)


@pytest.mark.parametrize(("kind", "wrong"), [
    ("wrong_tid", lambda tid, unit: mbap((tid + 1) & 0xFFFF, unit, _read_answer(BAD))),
    ("wrong_unit", lambda tid, unit: mbap(tid, unit + 1, _read_answer(BAD))),
    ("wrong_function", lambda tid, unit: mbap(tid, unit, bytes([3, 8]) + _regs(BAD))),
    ("wrong_count", lambda tid, unit: mbap(tid, unit, _read_answer(BAD[:3]))),
])
def test_tcp_a_mismatched_answer_is_dropped_and_counted(kind: str, wrong) -> None:
    dev = ScriptedTcpDevice(lambda tid, unit, pdu: wrong(tid, unit) + mbap(tid, unit, _read_answer(GOOD)))
    tr = TcpTransport(TransportConfig(kind="tcp", host="127.0.0.1", port=dev.port, unit=1, timeout_s=0.5,
                                      retries=0))
    try:
        tr.connect()
        assert tr.read_registers("input", 0, 4) == GOOD
        assert getattr(tr.stats, kind) == 1 and tr.stats.dropped() == 1
    finally:
        tr.close()
        dev.close()


def test_tcp_a_broken_mbap_header_drops_the_connection() -> None:
    dev = ScriptedTcpDevice(lambda tid, unit, pdu: struct.pack(">HHHB", tid, 7, 11, unit) + _read_answer(BAD))
    tr = TcpTransport(TransportConfig(kind="tcp", host="127.0.0.1", port=dev.port, unit=1, timeout_s=0.5,
                                      retries=0))
    try:
        tr.connect()
        with pytest.raises(TransportError, match="MBAP"):
            tr.read_registers("input", 0, 4)
        assert tr.stats.bad_mbap == 1 and not tr.connected
    finally:
        tr.close()
        dev.close()


def test_tcp_a_wrong_write_echo_is_dropped() -> None:
    def reply(tid: int, unit: int, pdu: bytes) -> bytes:
        address, count = struct.unpack(">HH", pdu[1:5])
        return mbap(tid, unit, struct.pack(">BHH", 16, address, count + 1)) + mbap(tid, unit, pdu[:5])

    dev = ScriptedTcpDevice(reply)
    tr = TcpTransport(TransportConfig(kind="tcp", host="127.0.0.1", port=dev.port, unit=1, timeout_s=0.5,
                                      retries=0))
    try:
        tr.connect()
        tr.write_registers(5, [1, 2, 3], wait=True)
        assert tr.stats.wrong_echo == 1
    finally:
        tr.close()
        dev.close()
