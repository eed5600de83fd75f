"""The simulated stand's Modbus face: servers (TCP and/or RTU) over one Firmware, with the
firmware scanning in real time on its own thread; and, for lockstep runs with line faults, the
device end of an RTU line as bytes (:class:`RtuLine`).

Modbus TCP is our own lean server (firmware_sim/tcp.py: the 1 kHz path, where per-request
overhead is loop time lost). Serial lines use pymodbus's RTU server, where the wire time
dominates: pymodbus holds a copy of the register blocks and a device ``action`` hook makes
every request go to the firmware instead, so reads sample the sensors at the moment of the
request and writes reach the firmware (and its heartbeat watchdog) when they arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusException, NoSuchIdException
from pymodbus.framer import FramerRTU, FramerType
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import (
    ReadCoilsRequest,
    ReadCoilsResponse,
    ReadDiscreteInputsRequest,
    ReadDiscreteInputsResponse,
    WriteMultipleCoilsRequest,
    WriteMultipleCoilsResponse,
)
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    ReadInputRegistersRequest,
    ReadInputRegistersResponse,
    WriteMultipleRegistersRequest,
    WriteMultipleRegistersResponse,
)
from pymodbus.server import ModbusSerialServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simutils import SimUtils

from firmware_sim.faults import corrupt_rtu
from firmware_sim.firmware import Firmware
from firmware_sim.lateness import Lateness, probe_loop, run_realtime
from firmware_sim.tcp import TcpDevice, serve_tcp
from hil.stand.devices import read_bytes, wire_time, write_bytes

_READ_IR, _READ_HR = 4, 3
_WRITE_HR = (6, 16, 23)


@dataclass(frozen=True)
class Endpoint:
    """Where a server listens: ("tcp", host, port) or ("rtu", device, baud), and which of the
    stand's devices it serves there (several units share a serial line)."""

    kind: str
    address: str
    number: int  # port for TCP, baud rate for RTU
    devices: tuple[str, ...] = ()
    pace: bool = False  # RTU: answer after the wire time the transaction takes at ``number`` baud


RTU_GAP_S = 0.01  # line silence that ends a partial frame (the spec's 1.75 ms, widened for pty scheduling)


class _RtuRequestHandler(ServerRequestHandler):
    """RTU receivers resynchronise on the silence between frames. pymodbus's serial server
    does not: noise that looks like the start of a long frame left it deaf until enough bytes
    had arrived to complete it (found by fuzzing, tests/test_server_fuzz.py). A partial frame
    followed by a quiet line is dropped, as firmware on a real RS-485 port would.

    Each answer belongs to its request. pymodbus answers from ``self.last_pdu``, which the next
    frame on the line replaces while a request is still being served (an answer waiting out its
    wire time or a device's delay): a module's registers went out stamped with the other unit's
    id — the flowmeter's words as the thermocouple's float (9e-39 K). Here every request is
    taken with its own PDU and address when it arrives, and answered with them."""

    _last_rx = 0.0

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self._requests: deque[tuple[ModbusPDU, tuple | None]] = deque()

    def datagram_received(self, data: bytes, addr: tuple | None) -> None:
        now = time.monotonic()
        if self.recv_buffer and now - self._last_rx > RTU_GAP_S:
            self.recv_buffer = b""
        self._last_rx = now
        super().datagram_received(data, addr)

    def callback_data(self, data: bytes, addr: tuple | None = None) -> int:
        used = super().callback_data(data, addr)  # schedules handle_later once per whole request
        if self.last_pdu:
            self._requests.append((self.last_pdu, self.last_addr))
        return used

    def handle_later(self) -> None:
        if self._requests:
            pdu, addr = self._requests.popleft()
            asyncio.run_coroutine_threadsafe(self._serve(pdu, addr), self.loop)

    async def _serve(self, pdu: ModbusPDU, addr: tuple | None) -> None:
        try:
            response = await pdu.datastore_update(self.server.context, pdu.dev_id)
        except NoSuchIdException:
            return  # no such unit on this line: silence, as on a real bus
        except Exception:  # a device failure answers, it does not kill the line
            response = ExceptionResponse(pdu.function_code, ExcCodes.DEVICE_FAILURE)
        response.transaction_id = pdu.transaction_id
        response.dev_id = pdu.dev_id
        self.server_send(response, addr)


class _RtuServer(ModbusSerialServer):
    def callback_new_connection(self) -> ServerRequestHandler:
        return _RtuRequestHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)


_BIT_READS = {1: "coil", 2: "discrete"}
_WRITE_COILS = (5, 15)


class StandServer:
    """Serves one Firmware's devices over any number of Modbus endpoints."""

    def __init__(self, firmware: Firmware, unit: int | None = None) -> None:
        self.fw = firmware
        self.unit_override = unit
        self.rtu_requests = 0
        self.rtu_dropped = 0
        self._servers: list[ModbusSerialServer] = []
        self._tcp: list[tuple[TcpDevice, asyncio.Server]] = []
        self.answer_lateness = Lateness()  # the event loop's wake-up lag (firmware_sim/lateness.py)

    @property
    def requests(self) -> int:
        """Requests received on every endpoint."""
        return self.rtu_requests + sum(d.requests for d, _ in self._tcp)

    @property
    def dropped(self) -> int:
        """Answers not sent because the device was silent (a stop_answering fault)."""
        return self.rtu_dropped + sum(d.dropped for d, _ in self._tcp)

    def unit_of(self, name: str) -> int:
        return self.unit_override if self.unit_override is not None else self.fw.faces[name].unit

    def sim_device(self, name: str, baud: int = 0) -> SimDevice:
        """A pymodbus device whose every request goes to the firmware's face ``name``; with a
        baud rate, each answer waits for the wire time its transaction takes on that line."""
        face = self.fw.faces[name]
        unit = self.unit_of(name)
        size = {t: max(1, n) for t, n in face.sizes.items()}

        async def action(func_code: int, start_address: int, address: int, count: int,
                         registers: list[int], set_values: list[int] | list[bool] | None) -> ExcCodes | None:
            return await self._action(name, baud, func_code, start_address, address, count, registers, set_values)

        return SimDevice(
            id=unit,
            simdata=(
                [SimData(0, count=size["coil"], values=False, datatype=DataType.BITS)],
                [SimData(0, count=size["discrete"], values=False, datatype=DataType.BITS)],
                [SimData(0, count=size["holding"], values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=size["input"], values=0, datatype=DataType.REGISTERS)],
            ),
            action=action,
        )

    async def _action(self, device: str, baud: int, func_code: int, start_address: int, address: int, count: int,
                      registers: list[int], set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        """Route a request to the firmware (bounds were checked by pymodbus already)."""
        fw = self.fw
        self.rtu_requests += 1
        delay = fw.delay_for(device)
        if baud:
            delay += _wire_time(baud, func_code, count)
        if delay:
            await asyncio.sleep(delay)
        if not fw.answers(device):
            return ExcCodes.DEVICE_BUSY  # and _trace_rtu drops the reply: silence on the wire
        code = fw.exception_for(device)
        if code:
            return ExcCodes(code)
        off = address - start_address
        face = fw.faces[device]
        if func_code == _READ_IR:
            registers[off : off + count] = fw.read(device, "input", address, count)
        elif func_code == _READ_HR:
            registers[off : off + count] = fw.read(device, "holding", address, count)
        elif func_code in _BIT_READS:
            table = _BIT_READS[func_code]
            put_bits(registers, start_address, address, count,
                     lambda a, n: fw.read(device, table, a, n) if face.ok(table, a, n) else [0] * n,
                     face.sizes[table])
        elif func_code in _WRITE_HR and set_values is not None:
            fw.write(device, "holding", address, [int(v) for v in set_values])
        elif func_code in _WRITE_COILS and set_values is not None:
            if not face.ok("coil", address, len(set_values)):
                return ExcCodes.ILLEGAL_ADDRESS
            fw.write(device, "coil", address, [int(bool(v)) for v in set_values])
        return None

    def _trace_rtu(self, sending: bool, data: bytes) -> bytes:
        """Outgoing frames: dropped while the stand is silent (the request was still handled),
        else passed through the line faults (CRC errors, noise)."""
        if not sending:
            return data
        if not self.fw.answering:
            self.rtu_dropped += 1
            return b""
        return corrupt_rtu(self.fw, data)

    async def start(self, endpoints: list[Endpoint]) -> list[Endpoint]:
        """Start listening; returns the endpoints with ephemeral TCP ports resolved."""
        bound: list[Endpoint] = []
        for ep in endpoints:
            names = ep.devices or (self.fw.first,)
            if ep.kind == "tcp":
                if len(names) != 1:
                    raise ValueError("a Modbus TCP endpoint serves one device")
                dev = TcpDevice(self.fw, names[0], self.unit_of(names[0]))
                tcp = await serve_tcp(dev, ep.address, ep.number)
                self._tcp.append((dev, tcp))
                bound.append(Endpoint("tcp", ep.address, tcp.sockets[0].getsockname()[1], names))
                continue
            devs = [self.sim_device(n, ep.number if ep.pace else 0) for n in names]
            server = _RtuServer(devs if len(devs) > 1 else devs[0], framer=FramerType.RTU, port=ep.address,
                                baudrate=ep.number, trace_packet=self._trace_rtu)
            await server.serve_forever(background=True)
            self._servers.append(server)
            bound.append(Endpoint("rtu", ep.address, ep.number, names, ep.pace))
        return bound

    async def stop(self) -> None:
        """Close every endpoint."""
        for _, tcp in self._tcp:
            tcp.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.shutdown()
        self._servers.clear()


def put_bits(registers: list[int], start_address: int, address: int, reg_count: int,
             read: Callable[[int, int], list[int]], size: int) -> None:
    """Bits into a pymodbus SimDevice block for a coil or discrete-input read. pymodbus packs
    16 bits per register (bit addressing, the default with separate blocks: bit ``address`` is
    bit ``address % 16`` of register ``address // 16``) and hands the action the register
    count, not the bit count: fill every bit the answer can contain (addresses past the table
    read 0)."""
    offset, bit = address // 16 - start_address, address % 16
    bits = SimUtils.registersToBits(registers[offset : offset + reg_count])
    n = max(0, min(reg_count * 16 - bit, size - address))
    bits[bit : bit + n] = [bool(v) for v in read(address, n)] if n else []
    registers[offset : offset + reg_count] = SimUtils.bitsToRegisters(bits)


def _wire_time(baud: int, func_code: int, count: int) -> float:
    """How long a transaction occupies a serial line at ``baud`` (a pty has no baud rate)."""
    table = {1: "coil", 2: "discrete", 15: "coil"}.get(func_code, "holding")
    sizes = write_bytes(table, count) if func_code in (5, 6, 15, 16) else read_bytes(table, count)
    return wire_time(baud, *sizes)


def quiet_pymodbus() -> None:
    """pymodbus logs per-request noise at WARNING/ERROR (every malformed frame a fuzzer sends);
    the simulator reports what matters itself."""
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


async def serve(firmware: Firmware, endpoints: list[Endpoint], stop: asyncio.Event,
                on_ready: Callable[[list[Endpoint]], None] | None = None, unit: int | None = None) -> dict[str, float]:
    """Run the firmware in real time and serve it until ``stop`` is set.

    The scan thread is stopped and joined on every exit path, so a failed bind never leaves a
    plant running with nobody listening.
    """
    server = StandServer(firmware, unit=unit)
    halt = threading.Event()
    stats: dict[str, float] = {}
    scanner = threading.Thread(target=lambda: stats.update(run_realtime(firmware, halt)), name="fw-scan", daemon=True)
    scanner.start()
    server.answer_lateness = Lateness()
    probe = asyncio.get_running_loop().create_task(probe_loop(stop, server.answer_lateness))
    try:
        bound = await server.start(endpoints)
        if on_ready:
            on_ready(bound)
        await stop.wait()
    finally:
        halt.set()
        probe.cancel()
        await server.stop()
        scanner.join(timeout=2.0)
    stats["requests"] = server.requests
    stats["dropped"] = server.dropped
    stats.update(server.answer_lateness.as_dict("answer"))
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

    def __init__(self, firmware: Firmware, unit: int = 1, device: str = "") -> None:
        self.fw = firmware
        self.unit = unit
        self.device = device or firmware.first
        self.framer = FramerRTU(DecodePDU(True))
        self.requests = 0

    def clean(self) -> bool:
        """True while no line fault is active: every frame would arrive intact and on time."""
        fw = self.fw
        return not (fw.crc_error_rate or fw.garbage_rate or fw.delay_for(self.device))

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
        if not fw.answers(self.device):
            return b"", 0.0
        resp = self._answer(req)
        frame = self.framer.buildFrame(resp)
        return corrupt_rtu(fw, frame), fw.delay_for(self.device)

    def _answer(self, req: ModbusPDU) -> ModbusPDU:
        fw, dev = self.fw, self.device
        fc = req.function_code
        code = fw.exception_for(dev)
        if code:
            return self._exception(fc, code)
        for kind, table in _LINE_READS.items():
            if isinstance(req, kind):
                if not fw.ok(dev, table, req.address, req.count):
                    return self._exception(fc, ILLEGAL_ADDRESS)
                values = fw.read(dev, table, req.address, req.count)
                if table in ("coil", "discrete"):
                    return _BIT_RESPONSES[table](bits=[bool(v) for v in values], dev_id=self.unit)
                return _REG_RESPONSES[table](registers=values, dev_id=self.unit)
        if isinstance(req, WriteMultipleRegistersRequest):
            if not fw.ok(dev, "holding", req.address, len(req.registers)):
                return self._exception(fc, ILLEGAL_ADDRESS)
            fw.write(dev, "holding", req.address, list(req.registers))
            return WriteMultipleRegistersResponse(address=req.address, count=len(req.registers), dev_id=self.unit)
        if isinstance(req, WriteMultipleCoilsRequest):
            if not fw.ok(dev, "coil", req.address, len(req.bits)):
                return self._exception(fc, ILLEGAL_ADDRESS)
            fw.write(dev, "coil", req.address, [int(b) for b in req.bits])
            return WriteMultipleCoilsResponse(address=req.address, count=len(req.bits), dev_id=self.unit)
        return self._exception(fc, 1)  # illegal function

    def _exception(self, function_code: int, code: int) -> ModbusPDU:
        return ExceptionResponse(function_code, code, device_id=self.unit)


_LINE_READS: dict[type, str] = {ReadInputRegistersRequest: "input", ReadHoldingRegistersRequest: "holding",
                                ReadCoilsRequest: "coil", ReadDiscreteInputsRequest: "discrete"}
_REG_RESPONSES: dict[str, type] = {"input": ReadInputRegistersResponse, "holding": ReadHoldingRegistersResponse}
_BIT_RESPONSES: dict[str, type] = {"coil": ReadCoilsResponse, "discrete": ReadDiscreteInputsResponse}
