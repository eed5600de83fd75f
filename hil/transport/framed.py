"""Modbus request/answer over a byte pipe we own: pymodbus builds the request frames, every answer
is cut out of the stream and checked against its request here (hil/transport/answers.py).

The socket or serial port is driven directly, because pymodbus's sync clients add their own
polling (2-9 ms per transaction on serial, reference/toolchain.md) and the async ones an event
loop the control loop does not have. A frame that does not answer the request (another unit,
another function, another length, another transaction, a wrong write echo, a bad CRC) is counted
in :class:`TransportStats` and dropped; the request then waits on for its own answer, and times
out if it never comes.
"""

from __future__ import annotations

import struct
from abc import abstractmethod

from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerBase
from pymodbus.pdu import DecodePDU, ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsRequest, ReadDiscreteInputsRequest, WriteMultipleCoilsRequest
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadInputRegistersRequest,
    WriteMultipleRegistersRequest,
)

from hil.errors import TransportError
from hil.transport.answers import Mismatch, Request, check, rtu_answer_len, rtu_crc_ok
from hil.transport.base import COIL, DISCRETE, HOLDING, INPUT, Transport

_READ = {INPUT: ReadInputRegistersRequest, HOLDING: ReadHoldingRegistersRequest,
         DISCRETE: ReadDiscreteInputsRequest, COIL: ReadCoilsRequest}
MBAP = struct.Struct(">HHHB")  # transaction id, protocol id (0), length (unit + PDU), unit


class BadStream(TransportError):
    """The byte stream cannot be resynchronised (a TCP stream with a broken MBAP header)."""


class FramedTransport(Transport):
    """Request/answer over a framer; subclasses supply the pipe (``_send``/``_receive``)."""

    def __init__(self, framer_cls: type[FramerBase], unit: int, timeout_s: float, retries: int) -> None:
        super().__init__(timeout_s, retries)
        self.unit = unit
        self.framer = framer_cls(DecodePDU(False))
        self.tcp = False  # answers carry a transaction id (MBAP)
        self._tid = 0
        self._pending: Request | None = None
        self._reading: Request | None = None

    def _next_tid(self) -> int:
        self._tid = self._tid + 1 if self._tid < 0xFFFF else 1
        return self._tid

    def _read(self, table: str, address: int, count: int) -> list[int]:
        self._begin(table, address, count)
        return self._end(table, address, count)

    def _begin(self, table: str, address: int, count: int) -> None:
        self._settle()
        tid = self._next_tid()
        pdu = _READ[table](address=address, count=count, dev_id=self.unit, transaction_id=tid)
        req = Request(self.unit, pdu.function_code, address, count, tid if self.tcp else 0)
        self._reading = None
        self._send(self._frame(pdu))
        self._reading = req

    def _end(self, table: str, address: int, count: int) -> list[int]:
        req = self._reading
        if req is None:
            raise TransportError(f"no read of {table} {address} is outstanding on unit {self.unit}")
        self._reading = None
        return self._receive(req)

    def _write_request(self, table: str, address: int, values: list[int]) -> tuple[ModbusPDU, Request]:
        tid = self._next_tid()
        pdu: ModbusPDU
        if table == COIL:
            pdu = WriteMultipleCoilsRequest(address=address, bits=[bool(v) for v in values], dev_id=self.unit,
                                            transaction_id=tid)
        else:
            pdu = WriteMultipleRegistersRequest(address=address, registers=values, dev_id=self.unit,
                                                transaction_id=tid)
        return pdu, Request(self.unit, pdu.function_code, address, len(values), tid if self.tcp else 0)

    def _write_table(self, table: str, address: int, values: list[int]) -> None:
        self._settle()
        pdu, req = self._write_request(table, address, values)
        self._send(self._frame(pdu))
        self._receive(req)

    def _write_table_nowait(self, table: str, address: int, values: list[int]) -> None:
        self._settle()
        pdu, req = self._write_request(table, address, values)
        self._send(self._frame(pdu))
        self._pending = req

    def _write(self, address: int, values: list[int]) -> None:
        self._write_table(HOLDING, address, values)

    def _write_nowait(self, address: int, values: list[int]) -> None:
        self._write_table_nowait(HOLDING, address, values)

    def _settle(self) -> None:
        if self._pending is not None:
            req, self._pending = self._pending, None
            self._receive(req)

    def _frame(self, pdu: ModbusPDU) -> bytes:
        try:
            return bytes(self.framer.buildFrame(pdu))
        except (ModbusException, struct.error, ValueError) as exc:
            raise TransportError(f"cannot frame {type(pdu).__name__}: {exc}") from exc

    # ------------------------------------------------------------------ answers

    def _dropped(self, kind: str) -> None:
        setattr(self.stats, kind, getattr(self.stats, kind) + 1)

    def _scan_rtu(self, buf: bytes, req: Request) -> tuple[int, list[int] | None]:
        """Cut complete RTU frames off the front of ``buf``: (bytes used, the values of the first
        frame that answers ``req``, or None). A frame failing the CRC (or with a function no
        answer has) desynchronises the stream: everything buffered is dropped with it."""
        used = 0
        while True:
            rest = buf[used:]
            n = rtu_answer_len(rest)
            if n is None or len(rest) < n:
                return used, None
            if n == 0 or not rtu_crc_ok(rest[:n]):
                self._dropped("crc_errors")
                return len(buf), None
            used += n
            try:
                return used, check(req, rest[0], rest[1:n - 2])
            except Mismatch as m:
                self._dropped(m.kind)

    def _scan_mbap(self, buf: bytes, req: Request) -> tuple[int, list[int] | None]:
        """The same for MBAP frames; a header that cannot be one (protocol id not 0, a length
        no PDU has) leaves no way to find the next frame: raises :class:`BadStream`."""
        used = 0
        while len(buf) - used >= MBAP.size:
            tid, proto, length, unit = MBAP.unpack_from(buf, used)
            if proto != 0 or not 2 <= length <= 254:
                self._dropped("bad_mbap")
                raise BadStream(f"broken MBAP header from unit {self.unit}: protocol {proto}, length {length}")
            end = used + 6 + length
            if len(buf) < end:
                break
            pdu, used = buf[used + MBAP.size:end], end
            try:
                return used, check(req, unit, pdu, tid)
            except Mismatch as m:
                self._dropped(m.kind)
        return used, None

    @abstractmethod
    def _send(self, frame: bytes) -> None: ...

    @abstractmethod
    def _receive(self, req: Request) -> list[int]:
        """The values of the answer to ``req`` (empty for a write), waiting up to the timeout."""
