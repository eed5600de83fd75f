"""The controller fed garbage: a "device" on a real socket and on a real pty answers every
request with hypothesis-drawn bytes (junk, lying lengths, wrong transaction ids, wrong function
codes, short or long register data, exception codes out of range, frames with bad CRCs). The
transport either returns exactly the registers asked for or raises a TransportError — never
another exception, never a hang — and a control loop talking to such a device latches FAULT
with the reason, keeps its recording whole and shuts down cleanly."""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable

import pytest
from conftest import STANDS, TQ12
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymodbus.framer import FramerRTU
from tcp_device import ScriptedTcpDevice

from hil.controller import Controller
from hil.cycle.clock import MonotonicClock
from hil.errors import TransportError
from hil.record.recorder import new_recorder, read_run
from hil.safety import State
from hil.stand import TransportConfig, load_stand
from hil.transport import open_transport

pytestmark = pytest.mark.timeout(300)

DEVICES = STANDS / "sim_tq12_devices.toml"
Reply = Callable[[int, int], bytes]  # (transaction id, function code) -> what the device sends back


def _pdu_answers() -> st.SearchStrategy[Callable[[int], bytes]]:
    """PDUs as a function of the request's function code: plausible and implausible ones."""
    regs = st.lists(st.integers(0, 0xFFFF), min_size=0, max_size=130)
    return st.one_of(
        # a register answer with any number of registers, byte count honest or not
        st.builds(lambda r, lie: lambda fc: bytes([fc, (2 * len(r) + lie) & 0xFF]) + b"".join(struct.pack(">H", v)
                                                                                           for v in r),
                  regs, st.sampled_from([0, 0, 1, -1, 7])),
        # an exception response with any code, or any other function code entirely
        st.builds(lambda code: lambda fc: bytes([fc | 0x80, code]), st.integers(0, 255)),
        st.builds(lambda other, body: lambda fc: bytes([other]) + body, st.integers(0, 255), st.binary(max_size=40)),
        # a register answer with the right shape for 4 registers (sometimes valid)
        st.builds(lambda r: lambda fc: bytes([fc, 8]) + b"".join(struct.pack(">H", v) for v in r),
                  st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=4)),
        # a coil / discrete-input answer: any bytes, byte count honest or not, padding bits set or not
        st.builds(lambda b, lie: lambda fc: bytes([fc, (len(b) + lie) & 0xFF]) + b, st.binary(max_size=260),
                  st.sampled_from([0, 0, 1, -1, 3])),
    )


def tcp_replies() -> st.SearchStrategy[Reply]:
    junk = st.builds(lambda b: lambda tid, fc: b, st.binary(max_size=300))
    framed = st.builds(
        lambda pdu, tid_off, len_off, unit: lambda tid, fc: (
            lambda body: struct.pack(">HHHB", (tid + tid_off) & 0xFFFF, 0, max(0, len(body) + 1 + len_off) & 0xFFFF,
                                     unit) + body)(pdu(fc)),
        _pdu_answers(), st.sampled_from([0, 0, 0, 1, 0x8000]), st.sampled_from([0, 0, 0, 1, -1, 200, -3]),
        st.sampled_from([1, 1, 1, 0, 2, 255]))
    return st.one_of(junk, framed)


def rtu_replies() -> st.SearchStrategy[Reply]:
    junk = st.builds(lambda b: lambda tid, fc: b, st.binary(max_size=300))

    def frame(pdu: Callable[[int], bytes], unit: int, crc_ok: bool, fc: int) -> bytes:
        body = bytes([unit]) + pdu(fc)
        crc = FramerRTU.compute_CRC(body)
        return body + (crc if crc_ok else crc ^ 0x5A5A).to_bytes(2, "big")

    framed = st.builds(lambda pdu, unit, ok: lambda tid, fc: frame(pdu, unit, ok, fc), _pdu_answers(),
                       st.sampled_from([1, 1, 1, 0, 2]), st.booleans())
    return st.one_of(junk, framed)


class GarbageTcpDevice(ScriptedTcpDevice):
    """The scripted device (tests/tcp_device.py) answering with ``garbage(tid, fc)``: what the
    hypothesis strategies above draw."""

    def __init__(self) -> None:
        self.garbage: Reply = lambda tid, fc: b""
        super().__init__(lambda tid, unit, pdu: self.garbage(tid, pdu[0]))


@pytest.fixture(scope="module")
def tcp_device():
    dev = GarbageTcpDevice()
    yield dev
    dev.close()


def _check_read(tr) -> None:
    """Registers and bits, plain and split-phase (the multi-device read path): exactly what was
    asked for, or a TransportError."""
    try:
        regs = tr.read_registers("input", 0, 4)
    except TransportError:
        pass
    else:
        assert len(regs) == 4 and all(isinstance(v, int) and 0 <= v <= 0xFFFF for v in regs)
    for table, count in (("coil", 10), ("discrete", 3)):
        try:
            tr.begin_read(table, 0, count)
            bits = tr.end_read()
        except TransportError:
            continue
        assert len(bits) == count and set(bits) <= {0, 1}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@pytest.mark.slow
@given(reply=tcp_replies())
def test_tcp_transport_returns_registers_or_a_transport_error(tcp_device, reply: Reply) -> None:
    tcp_device.garbage = reply
    stand = load_stand(TQ12)
    cfg = TransportConfig(kind="tcp", host="127.0.0.1", port=tcp_device.port, unit=1, timeout_s=0.03, retries=1)
    with open_transport(stand, cfg) as tr:
        _check_read(tr)
        for write in (lambda: tr.write_registers(0, [1, 2], wait=False), lambda: tr.write_coils(0, [1, 0, 1], wait=False)):
            try:
                write()
                tr.settle()
            except TransportError:
                pass


class GarbageRtuDevice:
    """The device end of a pty pair: reads each 8-byte request frame, answers with ``reply``."""

    def __init__(self, device: str) -> None:
        import serial

        self.port = serial.Serial(device, 115200, timeout=0.05)
        self.reply: Reply = lambda tid, fc: b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        buf = b""
        while not self._stop.is_set():
            try:
                buf += self.port.read(64)
            except Exception:  # the port closed under us at teardown
                return
            if len(buf) >= 8:  # read requests are 8 bytes; writes longer, answered at their first 8
                fc = buf[1]
                n = 9 + buf[6] if fc in (15, 16) and len(buf) >= 7 else 8
                if len(buf) < n:
                    continue
                buf = buf[n:]
                self.port.write(self.reply(0, fc))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.port.close()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@pytest.mark.slow
@given(reply=rtu_replies())
def test_rtu_transport_returns_registers_or_a_transport_error(pty_pair, reply: Reply) -> None:
    dev = GarbageRtuDevice(pty_pair.a)
    try:
        dev.reply = reply
        stand = load_stand(TQ12)
        cfg = TransportConfig(kind="rtu", device=pty_pair.b, baud=115200, unit=1, timeout_s=0.03, retries=1)
        with open_transport(stand, cfg) as tr:
            _check_read(tr)
    finally:
        dev.close()


@pytest.mark.slow
def test_a_controller_fed_garbage_faults_cleanly_and_keeps_its_recording(tcp_device, tmp_path) -> None:
    tcp_device.garbage = lambda tid, fc: b"\x13\x37" * 40  # noise on every answer
    stand = load_stand(TQ12)
    import dataclasses

    cfg = dataclasses.replace(stand.transport, port=tcp_device.port, timeout_s=0.01)
    rec = new_recorder(tmp_path / "run", stand)
    ctl = Controller(stand, open_transport(stand, cfg), MonotonicClock(), recorder=rec)
    loop = ctl.loop
    loop.start()
    while loop.supervisor.state != State.FAULT and loop.t < 5.0:
        loop.step()
    assert loop.supervisor.state == State.FAULT
    assert "communication lost" in loop.supervisor.fault_reason
    loop.shutdown("test over")  # every exit path: safing on the (dead) link, then close
    rec.close()
    data = read_run(tmp_path / "run")
    assert not data.truncated and data.table.num_rows == loop.stats.cycles


@pytest.mark.slow
def test_a_garbage_device_among_good_ones_is_lost_and_the_others_keep_reading(tcp_device, tmp_path) -> None:
    """The multi-device path: the valve PLC answers noise; the DAQ and the RS-485 modules (in
    their line thread) keep being read, the PLC is lost (critical: FAULT), the recording is
    whole and every thread stops."""
    import dataclasses

    from firmware_sim.firmware import Firmware
    from hil.transport.lockstep import LockstepTransport

    tcp_device.garbage = lambda tid, fc: bytes([0, 1, 0, 0, 0, 4, 1, fc, 2, 0x55])  # a short bit answer to everything
    stand = load_stand(DEVICES)
    f = Firmware(stand)
    transports = {d.name: LockstepTransport(f, d.name) for d in stand.devices}
    plc = dataclasses.replace(stand.device("plc").link, port=tcp_device.port, timeout_s=0.01)
    transports["plc"] = open_transport(stand, plc)
    rec = new_recorder(tmp_path / "run", stand)
    ctl = Controller(stand, transports, MonotonicClock(), recorder=rec)
    loop = ctl.loop
    loop.start()
    while loop.supervisor.state != State.FAULT and loop.t < 5.0:
        loop.step()
    assert loop.supervisor.state == State.FAULT
    assert "communication lost with device 'plc'" in loop.supervisor.fault_reason
    assert loop.cs.valid[loop.decoder.index["pc"]]  # the DAQ still reads
    assert transports["flow"].stats.transactions > 0  # and the line thread polls the modules
    loop.shutdown("test over")
    rec.close()
    data = read_run(tmp_path / "run")
    assert not data.truncated and data.table.num_rows == loop.stats.cycles
