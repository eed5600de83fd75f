"""Modbus framing with pymodbus's PDU and framer classes over a byte pipe we own.

pymodbus builds and checks the frames (MBAP header or RTU CRC); the socket or serial port is
driven directly, because the sync clients add their own polling (2-9 ms per transaction on
serial, reference/toolchain.md) and the async ones an event loop the control loop does not have.
"""

from __future__ import annotations

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

from hil.errors import DeviceException, TransportError
from hil.transport.base import BITS, COIL, DISCRETE, HOLDING, INPUT, Transport

_READ = {INPUT: ReadInputRegistersRequest, HOLDING: ReadHoldingRegistersRequest,
         DISCRETE: ReadDiscreteInputsRequest, COIL: ReadCoilsRequest}


class FramedTransport(Transport):
    """Request/response over a framer; subclasses supply the pipe."""

    def __init__(self, framer_cls: type[FramerBase], unit: int, timeout_s: float, retries: int) -> None:
        super().__init__(timeout_s, retries)
        self.unit = unit
        self.framer = framer_cls(DecodePDU(False))
        self._tid = 0
        self._pending: ModbusPDU | None = None

    def _next_tid(self) -> int:
        self._tid = self._tid + 1 if self._tid < 0xFFFF else 1
        return self._tid

    def _read(self, table: str, address: int, count: int) -> list[int]:
        self._begin(table, address, count)
        return self._end(table, address, count)

    def _begin(self, table: str, address: int, count: int) -> None:
        self._settle()
        req = _READ[table](address=address, count=count, dev_id=self.unit, transaction_id=self._next_tid())
        self._send(self._frame(req))
        self._reading = req

    def _end(self, table: str, address: int, count: int) -> list[int]:
        req = self._reading
        resp = self._check(req, self._receive(req))
        if table in BITS:
            bits = list(resp.bits)
            if len(bits) < count or len(bits) - count >= 8:  # answers come padded to whole bytes
                raise TransportError(f"asked for {count} {table} bits at {address}, got {len(bits)}")
            return [1 if b else 0 for b in bits[:count]]
        regs = list(resp.registers)
        if len(regs) != count:
            raise TransportError(f"asked for {count} registers at {address}, got {len(regs)}")
        return regs

    def _write_request(self, table: str, address: int, values: list[int]) -> ModbusPDU:
        if table == COIL:
            return WriteMultipleCoilsRequest(address=address, bits=[bool(v) for v in values], dev_id=self.unit,
                                             transaction_id=self._next_tid())
        return WriteMultipleRegistersRequest(address=address, registers=values, dev_id=self.unit,
                                             transaction_id=self._next_tid())

    def _write_table(self, table: str, address: int, values: list[int]) -> None:
        self._transact(self._write_request(table, address, values))

    def _write_table_nowait(self, table: str, address: int, values: list[int]) -> None:
        self._settle()
        req = self._write_request(table, address, values)
        self._send(self._frame(req))
        self._pending = req

    def _write(self, address: int, values: list[int]) -> None:
        self._write_table(HOLDING, address, values)

    def _write_nowait(self, address: int, values: list[int]) -> None:
        self._write_table_nowait(HOLDING, address, values)

    def _settle(self) -> None:
        if self._pending is not None:
            req, self._pending = self._pending, None
            self._check(req, self._receive(req))

    def _frame(self, req: ModbusPDU) -> bytes:
        try:
            return self.framer.buildFrame(req)
        except ModbusException as exc:
            raise TransportError(f"cannot frame {type(req).__name__}: {exc}") from exc

    def _transact(self, req: ModbusPDU) -> ModbusPDU:
        self._settle()
        self._send(self._frame(req))
        return self._check(req, self._receive(req))

    def _check(self, req: ModbusPDU, resp: ModbusPDU) -> ModbusPDU:
        if resp.isError():
            fc = req.function_code
            raise DeviceException(f"unit {self.unit} refused function {fc} at register {req.address}",
                                  resp.exception_code)
        if resp.function_code != req.function_code:
            raise TransportError(f"answer to function {req.function_code} came back as function {resp.function_code}")
        return resp

    def _decode(self, buf: bytes, req: ModbusPDU) -> tuple[int, ModbusPDU | None]:
        """Let the framer find a complete, checked frame for this request in ``buf``."""
        try:
            return self.framer.handleFrame(buf, self.unit, req.transaction_id)
        except ModbusException as exc:
            raise TransportError(f"undecodable answer from unit {self.unit}: {exc}") from exc

    @abstractmethod
    def _send(self, frame: bytes) -> None: ...

    @abstractmethod
    def _receive(self, req: ModbusPDU) -> ModbusPDU: ...
