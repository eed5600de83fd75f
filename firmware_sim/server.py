"""The simulated stand's Modbus face: pymodbus servers (TCP and/or RTU) over one Firmware,
with the firmware scanning in real time on its own thread; and, for lockstep runs with line
faults, the device end of an RTU line as bytes (:class:`RtuLine`).

pymodbus holds a copy of the register blocks; a device ``action`` hook makes every request
go to the firmware instead, so reads sample the sensors at the moment of the request and
writes reach the firmware (and its heartbeat watchdog) when they arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerRTU, FramerType
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    ReadInputRegistersRequest,
    ReadInputRegistersResponse,
    WriteMultipleRegistersRequest,
    WriteMultipleRegistersResponse,
)
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from firmware_sim.firmware import Firmware

_READ_IR, _READ_HR = 4, 3
_WRITE_HR = (6, 16, 23)


@dataclass(frozen=True)
class Endpoint:
    """Where a server listens: ("tcp", host, port) or ("rtu", device, baud)."""

    kind: str
    address: str
    number: int  # port for TCP, baud rate for RTU


RTU_GAP_S = 0.01  # line silence that ends a partial frame (the spec's 1.75 ms, widened for pty scheduling)


class _RtuRequestHandler(ServerRequestHandler):
    """RTU receivers resynchronise on the silence between frames. pymodbus's serial server
    does not: noise that looks like the start of a long frame left it deaf until enough bytes
    had arrived to complete it (found by fuzzing, tests/test_server_fuzz.py). A partial frame
    followed by a quiet line is dropped, as firmware on a real RS-485 port would."""

    _last_rx = 0.0

    def datagram_received(self, data: bytes, addr: tuple | None) -> None:
        now = time.monotonic()
        if self.recv_buffer and now - self._last_rx > RTU_GAP_S:
            self.recv_buffer = b""
        self._last_rx = now
        super().datagram_received(data, addr)


class _RtuServer(ModbusSerialServer):
    def callback_new_connection(self) -> ServerRequestHandler:
        return _RtuRequestHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)


class StandServer:
    """Serves one Firmware over any number of Modbus endpoints."""

    def __init__(self, firmware: Firmware, unit: int = 1) -> None:
        self.fw = firmware
        self.unit = unit
        self.requests = 0
        self.dropped = 0
        self._servers: list[ModbusTcpServer | ModbusSerialServer] = []
        stand = firmware.stand
        self.device = SimDevice(
            id=unit,
            simdata=(
                [SimData(0, values=False, datatype=DataType.BITS)],
                [SimData(0, values=False, datatype=DataType.BITS)],
                [SimData(0, count=stand.holding_register_count, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=stand.input_register_count, values=0, datatype=DataType.REGISTERS)],
            ),
            action=self._action,
        )

    async def _action(self, func_code: int, start_address: int, address: int, count: int,
                      registers: list[int], set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        """Route a request to the firmware (bounds were checked by pymodbus already)."""
        fw = self.fw
        self.requests += 1
        if fw.response_delay_s:
            await asyncio.sleep(fw.response_delay_s)
        if not fw.answering:
            return ExcCodes.DEVICE_BUSY  # and _trace_packet drops the reply: silence on the wire
        if fw.exception_code:
            return ExcCodes(fw.exception_code)
        off = address - start_address
        if func_code == _READ_IR:
            registers[off : off + count] = fw.read_input_registers(address, count)
        elif func_code == _READ_HR:
            registers[off : off + count] = fw.read_holding_registers(address, count)
        elif func_code in _WRITE_HR and set_values is not None:
            fw.write_holding_registers(address, [int(v) for v in set_values])
        return None

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if sending and not self.fw.answering:
            self.dropped += 1
            return b""
        return data

    def _trace_rtu(self, sending: bool, data: bytes) -> bytes:
        """The serial server's outgoing frames also pass the line faults (CRC errors, noise)."""
        data = self._trace_packet(sending, data)
        return self.fw.corrupt_rtu(data) if sending else data

    async def start(self, endpoints: list[Endpoint]) -> list[Endpoint]:
        """Start listening; returns the endpoints with ephemeral TCP ports resolved."""
        bound: list[Endpoint] = []
        for ep in endpoints:
            if ep.kind == "tcp":
                server: ModbusTcpServer | ModbusSerialServer = ModbusTcpServer(
                    self.device, address=(ep.address, ep.number), trace_packet=self._trace_packet)
            else:
                server = _RtuServer(
                    self.device, framer=FramerType.RTU, port=ep.address, baudrate=ep.number,
                    trace_packet=self._trace_rtu)
            await server.serve_forever(background=True)
            self._servers.append(server)
            if ep.kind == "tcp":
                sock = server.transport.sockets[0]  # type: ignore[union-attr,attr-defined]
                ep = Endpoint("tcp", ep.address, sock.getsockname()[1])
            bound.append(ep)
        return bound

    async def stop(self) -> None:
        """Close every endpoint."""
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.shutdown()
        self._servers.clear()


def quiet_pymodbus() -> None:
    """pymodbus logs per-request noise at WARNING/ERROR (every malformed frame a fuzzer sends);
    the simulator reports what matters itself."""
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


async def serve(firmware: Firmware, endpoints: list[Endpoint], stop: asyncio.Event,
                on_ready: Callable[[list[Endpoint]], None] | None = None, unit: int = 1) -> dict[str, float]:
    """Run the firmware in real time and serve it until ``stop`` is set.

    The scan thread is stopped and joined on every exit path, so a failed bind never leaves a
    plant running with nobody listening.
    """
    server = StandServer(firmware, unit=unit)
    halt = threading.Event()
    stats: dict[str, float] = {}
    scanner = threading.Thread(target=lambda: stats.update(firmware.run_realtime(halt)), name="fw-scan", daemon=True)
    scanner.start()
    try:
        bound = await server.start(endpoints)
        if on_ready:
            on_ready(bound)
        await stop.wait()
    finally:
        halt.set()
        await server.stop()
        scanner.join(timeout=2.0)
    stats["requests"] = server.requests
    stats["dropped"] = server.dropped
    return stats


# The RTU line in lockstep. A lockstep run normally hands registers straight to the firmware;
# to put line faults (CRC errors, noise, slow answers) into the fault matrix without giving up
# lockstep, RtuLine plays the device end of a Modbus RTU line: it decodes the controller's request
# frame with pymodbus's RTU framer, lets the firmware answer, frames the answer and passes it
# through the same corruption the serial server applies. The controller decodes the bytes with its
# real RTU code (hil/transport/lockstep.py), so a bad CRC is caught by the CRC check, not a flag.

ILLEGAL_ADDRESS = 2


class RtuLine:
    """The device end of one RTU line: request bytes in, answer bytes and their delay out."""

    def __init__(self, firmware: Firmware, unit: int = 1) -> None:
        self.fw = firmware
        self.unit = unit
        self.framer = FramerRTU(DecodePDU(True))
        self.requests = 0

    def clean(self) -> bool:
        """True while no line fault is active: every frame would arrive intact and on time."""
        fw = self.fw
        return not (fw.crc_error_rate or fw.garbage_rate or fw.response_delay_s)

    def exchange(self, request: bytes) -> tuple[bytes, float]:
        """The bytes the device puts on the line for ``request`` (empty: silence) and how long
        after the request they arrive (the firmware's response delay)."""
        try:
            _, req = self.framer.handleFrame(request, 0, 0)
        except ModbusException:
            return b"", 0.0  # a frame the device cannot parse gets no answer, as on a real line
        if req is None or req.dev_id != self.unit:
            return b"", 0.0
        self.requests += 1
        fw = self.fw
        if not fw.answering:
            return b"", 0.0
        resp = self._answer(req)
        frame = self.framer.buildFrame(resp)
        return fw.corrupt_rtu(frame), fw.response_delay_s

    def _answer(self, req: ModbusPDU) -> ModbusPDU:
        fw = self.fw
        fc = req.function_code
        if fw.exception_code:
            return self._exception(fc, fw.exception_code)
        if isinstance(req, ReadInputRegistersRequest):
            if not fw.input_ok(req.address, req.count):
                return self._exception(fc, ILLEGAL_ADDRESS)
            return ReadInputRegistersResponse(registers=fw.read_input_registers(req.address, req.count),
                                              dev_id=self.unit)
        if isinstance(req, ReadHoldingRegistersRequest):
            if not fw.holding_ok(req.address, req.count):
                return self._exception(fc, ILLEGAL_ADDRESS)
            return ReadHoldingRegistersResponse(registers=fw.read_holding_registers(req.address, req.count),
                                                dev_id=self.unit)
        if isinstance(req, WriteMultipleRegistersRequest):
            if not fw.holding_ok(req.address, len(req.registers)):
                return self._exception(fc, ILLEGAL_ADDRESS)
            fw.write_holding_registers(req.address, list(req.registers))
            return WriteMultipleRegistersResponse(address=req.address, count=len(req.registers), dev_id=self.unit)
        return self._exception(fc, 1)  # illegal function

    def _exception(self, function_code: int, code: int) -> ModbusPDU:
        return ExceptionResponse(function_code, code, device_id=self.unit)
