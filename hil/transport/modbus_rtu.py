"""Modbus RTU over a serial line: pymodbus's RTU framer (CRC) on a raw pyserial port.

No polling client: the port blocks in the kernel until bytes arrive, which costs ~0.3 ms per
transaction on a pty instead of the 2-9 ms of pymodbus's sync serial client.
"""

from __future__ import annotations

import time

import serial
from pymodbus.framer import FramerRTU

from hil.errors import TransportError, TransportTimeout
from hil.stand import TransportConfig
from hil.stand.devices import frame_gap, quiet_after_timeout
from hil.transport.answers import Request
from hil.transport.base import TransportStats
from hil.transport.framed import FramedTransport


class SerialLine:
    """One serial port shared by every unit on it (an RS-485 line): opened by the first device
    that connects, closed when the last one lets go. One thread uses a line at a time.

    After a timeout the line is *held*: :meth:`wait_quiet`, called before every send, reads and
    drops what arrives until the hold has passed and the line has been silent for 3.5
    characters (hil/stand/devices.py: quiet_after_timeout). ``reset_input_buffer()`` before a send is not enough: a late answer may still be
    on its way, and it would then be taken for the answer to the next request."""

    def __init__(self, cfg: TransportConfig) -> None:
        self.cfg = cfg
        self.port: serial.Serial | None = None
        self.users = 0
        self.quiet_until = 0.0
        self._held_for: TransportStats | None = None  # the device whose late answer may come
        self.gap_s = frame_gap(cfg.baud)

    def open(self) -> serial.Serial:
        if self.port is None:
            c = self.cfg
            try:
                self.port = serial.Serial(c.device, baudrate=c.baud, parity=c.parity, stopbits=c.stopbits,
                                          bytesize=8, timeout=c.timeout_s)
            except (serial.SerialException, OSError) as exc:
                raise TransportError(f"cannot open serial port {c.device}: {exc}") from exc
        self.users += 1
        return self.port

    def release(self) -> None:
        self.users = max(0, self.users - 1)
        if self.users == 0 and self.port is not None:
            try:
                self.port.close()
            finally:
                self.port = None

    def hold(self, stats: TransportStats, seconds: float) -> None:
        """A request of the device counting into ``stats`` timed out: keep the line quiet for
        ``seconds`` from now."""
        self.quiet_until = max(self.quiet_until, time.monotonic() + seconds)
        self._held_for = stats

    def wait_quiet(self, sender: TransportStats) -> None:
        """Return when the line may carry a request: the hold has passed, the line has been silent
        for the inter-frame gap, and every byte that came meanwhile was dropped (counted once
        per hold as a late answer of the device that timed out; stray bytes outside a hold count
        against ``sender``)."""
        port = self.port
        assert port is not None
        late = False
        while True:
            left = self.quiet_until - time.monotonic()
            if left <= 0:
                break
            port.timeout = left
            chunk = port.read(max(1, port.in_waiting))
            if chunk:
                late = True
                self.quiet_until = max(self.quiet_until, time.monotonic() + self.gap_s)
        if port.in_waiting:  # bytes that came after the hold (or with none): never a next answer
            port.reset_input_buffer()
            late = True
        if late:
            (self._held_for or sender).late_answers += 1
        self._held_for = None
class RtuTransport(FramedTransport):
    """One unit on a serial line (several may share the line's port)."""

    name = "rtu"

    def __init__(self, cfg: TransportConfig, line: SerialLine | None = None) -> None:
        super().__init__(FramerRTU, cfg.unit, cfg.timeout_s, cfg.retries)
        self.cfg = cfg
        self.line = line or SerialLine(cfg)
        self.link = cfg
        self.port: serial.Serial | None = None

    def _open(self) -> None:
        self.port = self.line.open()

    def _close(self) -> None:
        self._pending = None
        if self.port is not None:
            self.port = None
            self.line.release()

    def _send(self, frame: bytes) -> None:
        assert self.port is not None
        try:
            self.line.wait_quiet(self.stats)
            self.port.write(frame)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"write to {self.cfg.device} failed: {exc}") from exc

    def _receive(self, req: Request) -> list[int]:
        assert self.port is not None
        deadline = time.monotonic() + self.timeout_s
        buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                ln = self.line.cfg
                self.line.hold(self.stats, quiet_after_timeout(self.timeout_s, req.answer_rtu_len, ln.baud,
                                                               ln.parity, ln.stopbits))
                raise TransportTimeout(f"no answer from unit {self.unit} on {self.cfg.device} "
                                       f"within {self.timeout_s * 1000:.0f} ms")
            self.port.timeout = left
            try:
                # block for at least one byte, then take whatever else has arrived
                chunk = self.port.read(1)
                if chunk and self.port.in_waiting:
                    chunk += self.port.read(self.port.in_waiting)
            except (serial.SerialException, OSError) as exc:
                self.close()
                raise TransportError(f"read from {self.cfg.device} failed: {exc}") from exc
            if not chunk:
                continue
            buf += chunk
            used, values = self._scan_rtu(buf, req)
            buf = buf[used:]
            if values is not None:
                return values
