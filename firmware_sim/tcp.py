"""Modbus TCP for the simulated stand: MBAP frames on an asyncio protocol, answered by
:mod:`firmware_sim.pdu`.

The server is on the controller's critical path: at 1 kHz every microsecond it spends is taken
from the same two cores the loop runs on. So it does what a DAQ's TCP stack does and no more:
split the stream into MBAP frames, check the header, answer the PDU, write the reply. A frame
header that cannot be Modbus (protocol id not 0, a length no PDU has) closes the connection,
as there is no way to find the next frame in a TCP stream after it; the client reconnects.
"""

from __future__ import annotations

import asyncio
import struct
from typing import TYPE_CHECKING

from firmware_sim.pdu import answer, exception

if TYPE_CHECKING:
    from firmware_sim.firmware import Firmware

_MBAP = struct.Struct(">HHHB")  # transaction id, protocol id, length (unit + PDU), unit
GATEWAY_TARGET_FAILED = 11
MAX_LENGTH = 254  # unit id + the largest PDU (253 bytes)


class TcpDevice:
    """One simulated device behind one TCP port: the unit it answers as and the faults that
    shape its answers (silence, late answers, forced exceptions) read from the firmware."""

    def __init__(self, fw: Firmware, device: str, unit: int) -> None:
        self.fw = fw
        self.device = device
        self.unit = unit
        self.requests = 0
        self.dropped = 0

    def protocol(self) -> asyncio.Protocol:
        return _Connection(self)

    def request(self, conn: _Connection, tid: int, unit: int, pdu: bytes) -> None:
        """A whole request frame arrived: answer now or after the device's response delay."""
        self.requests += 1
        if unit != self.unit:
            # no such unit behind this address: what a gateway answers, and quicker for the
            # client to act on than a timeout
            if pdu and conn.transport is not None:
                conn.transport.write(_MBAP.pack(tid, 0, 3, unit) + exception(pdu[0], GATEWAY_TARGET_FAILED))
            return
        delay = self.fw.delay_for(self.device)
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._reply, conn, tid, unit, pdu)
        else:
            self._reply(conn, tid, unit, pdu)

    def _reply(self, conn: _Connection, tid: int, unit: int, pdu: bytes) -> None:
        fw = self.fw
        if not fw.answers(self.device):
            self.dropped += 1
            return  # silence on the wire; the request never reached the device's logic
        code = fw.exception_for(self.device)
        resp = exception(pdu[0], code) if code else answer(fw, self.device, pdu)
        if resp and conn.transport is not None and not conn.transport.is_closing():
            conn.transport.write(_MBAP.pack(tid, 0, len(resp) + 1, unit) + resp)


class _Connection(asyncio.Protocol):
    def __init__(self, dev: TcpDevice) -> None:
        self.dev = dev
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while len(buf) >= 8:
            tid, pid, length, unit = _MBAP.unpack_from(buf)
            if pid != 0 or not 2 <= length <= MAX_LENGTH:
                buf.clear()
                if self.transport is not None:
                    self.transport.close()
                return
            end = 6 + length
            if len(buf) < end:
                return
            pdu = bytes(buf[7:end])
            del buf[:end]
            self.dev.request(self, tid, unit, pdu)


async def serve_tcp(dev: TcpDevice, host: str, port: int) -> asyncio.Server:
    """Listen for ``dev`` on host:port (0: an ephemeral port)."""
    return await asyncio.get_running_loop().create_server(dev.protocol, host, port, reuse_address=True)
