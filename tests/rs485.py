"""An RS-485 line of Modbus RTU units written for these tests (not the bundled simulator, not
pymodbus's server): what real modules on a shared line do, byte for byte.

Each unit listens to every frame on the line, ignores frames with a bad CRC or another unit's
address (as a real transceiver on a multi-drop line does), and answers its own requests after a
delay its ``delay`` hook decides — possibly after the master has given up (a late answer), or
never (``None``). A ``mangle`` hook replaces the answer's bytes (a wrong unit, function, byte
count, write echo or CRC), for the mismatch tests. One thread owns the pty end: it reads
requests and sends each due answer in time order, so late answers really cross later requests.
"""

from __future__ import annotations

import heapq
import os
import select
import struct
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field

from pymodbus.framer import FramerRTU


def crc(body: bytes) -> bytes:
    return int(FramerRTU.compute_CRC(body)).to_bytes(2, "big")


def frame(unit: int, pdu: bytes) -> bytes:
    return bytes([unit]) + pdu + crc(bytes([unit]) + pdu)


@dataclass
class Req:
    unit: int
    fc: int
    address: int
    count: int
    raw: bytes


@dataclass
class Unit:
    """One module: input registers by address (everything else reads 0) and holding registers
    written by the master."""

    address: int
    inputs: dict[int, int] = field(default_factory=dict)
    holding: dict[int, int] = field(default_factory=dict)
    delay: Callable[[Req], float | None] = lambda req: 0.0
    mangle: Callable[[Req, bytes], bytes] | None = None
    requests: int = 0
    late: int = 0  # answers sent after ``late_after`` (the master's timeout)
    late_after: float = float("inf")

    def answer(self, req: Req) -> bytes:
        if req.fc in (3, 4):
            regs = self.inputs if req.fc == 4 else self.holding
            data = b"".join(struct.pack(">H", regs.get(req.address + i, 0)) for i in range(req.count))
            pdu = bytes([req.fc, len(data)]) + data
        elif req.fc == 16:
            values = struct.unpack(f">{req.count}H", req.raw[7:7 + 2 * req.count])
            for i, v in enumerate(values):
                self.holding[req.address + i] = v
            pdu = struct.pack(">BHH", 16, req.address, req.count)
        else:
            pdu = bytes([req.fc | 0x80, 1])  # illegal function
        out = frame(self.address, pdu)
        return self.mangle(req, out) if self.mangle is not None else out


class Rs485Line:
    """The units on one line, served from the pty end ``path``."""

    def __init__(self, path: str, units: list[Unit]) -> None:
        self.units = {u.address: u for u in units}
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self._stop_r, self._stop_w = os.pipe()
        self._due: list[tuple[float, int, bytes, float]] = []  # (send at, seq, bytes, request received at)
        self.answer_delays: list[float] = []  # from each request's arrival to its answer's write, as it happened
        self._seq = 0
        self.bad_requests = 0
        self._thread = threading.Thread(target=self._run, name="rs485 responder", daemon=True)
        self._thread.start()

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self.fd, self._stop_r, self._stop_w):
            os.close(fd)

    def _run(self) -> None:
        buf = b""
        while True:
            wait = max(0.0, self._due[0][0] - time.monotonic()) if self._due else None
            ready, _, _ = select.select([self.fd, self._stop_r], [], [], wait)
            if self._stop_r in ready:
                return
            if self.fd in ready:
                buf += os.read(self.fd, 4096)
                buf = self._requests(buf)
            while self._due and self._due[0][0] <= time.monotonic():
                _, _, out, received = heapq.heappop(self._due)
                os.write(self.fd, out)
                self.answer_delays.append(time.monotonic() - received)

    def _requests(self, buf: bytes) -> bytes:
        while len(buf) >= 8:
            fc = buf[1]
            n = 9 + buf[6] if fc in (15, 16) else 8
            if len(buf) < n:
                return buf
            raw, rest = buf[:n], buf[n:]
            if crc(raw[:-2]) != raw[-2:]:
                self.bad_requests += 1
                return b""  # a real receiver resynchronises on the next silence
            buf = rest
            unit = self.units.get(raw[0])
            if unit is None:
                continue  # another unit's request: not ours to answer
            address, count = struct.unpack(">HH", raw[2:6])
            req = Req(raw[0], fc, address, count, raw)
            unit.requests += 1
            delay = unit.delay(req)
            if delay is None:
                continue
            if delay > unit.late_after:
                unit.late += 1
            self._seq += 1
            now = time.monotonic()
            heapq.heappush(self._due, (now + delay, self._seq, unit.answer(req), now))
        return buf
