"""Lockstep: the controller reads and writes the simulated firmware's register image directly,
on the simulator's virtual clock. Same code paths as the socket runs except the wire.

The firmware's ``stop_answering`` fault becomes a timeout here too, so fault tests do not need
a socket. Line faults (``slow_response``, ``crc_error``, ``garbage``) need bytes on a line:
:class:`LockstepRtuTransport` models one, on the same virtual clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from pymodbus.framer import FramerRTU

from hil.errors import DeviceException, TransportTimeout
from hil.transport.answers import Request
from hil.transport.base import HOLDING, Transport
from hil.transport.framed import FramedTransport

if TYPE_CHECKING:
    from firmware_sim.firmware import Firmware


class LockstepTransport(Transport):
    """Direct access to one device of a Firmware in the same process."""

    name = "lockstep"

    def __init__(self, firmware: Firmware, device: str = "") -> None:
        super().__init__(timeout_s=0.0, retries=0)
        self.fw = firmware
        self.device = device or firmware.first

    def _open(self) -> None:
        pass

    def _close(self) -> None:
        pass

    def _check_faults(self) -> None:
        if not self.fw.answers(self.device):
            raise TransportTimeout(f"simulated device {self.device!r} is not answering")
        code = self.fw.exception_for(self.device)
        if code:
            raise DeviceException(f"simulated device {self.device!r} answers with an exception", code)

    def _read(self, table: str, address: int, count: int) -> list[int]:
        return self.read_image(table, address, count)

    def _write(self, address: int, values: list[int]) -> None:
        self.write_image(HOLDING, address, values)

    def _write_table(self, table: str, address: int, values: list[int]) -> None:
        self.write_image(table, address, values)

    def read_image(self, table: str, address: int, count: int) -> list[int]:
        """A table straight from the firmware's image, with its faults (no retries, no stats)."""
        self._check_faults()
        if not self.fw.ok(self.device, table, address, count):
            raise DeviceException(f"{table} {address}+{count} out of range on {self.device!r}", 2)
        return self.fw.read(self.device, table, address, count)

    def write_image(self, table: str, address: int, values: list[int]) -> None:
        """Holding registers or coils straight into the firmware's image, with its faults."""
        self._check_faults()
        if not self.fw.ok(self.device, table, address, len(values)):
            raise DeviceException(f"{table} {address}+{len(values)} out of range on {self.device!r}", 2)
        self.fw.write(self.device, table, address, values)


class Line(Protocol):
    """The device end of a byte-level line (firmware_sim.server.RtuLine)."""

    fw: Firmware
    device: str

    def clean(self) -> bool: ...

    def exchange(self, request: bytes) -> tuple[bytes, float]: ...


class LockstepRtuTransport(FramedTransport):
    """Lockstep over a modelled RTU line: real frames, CRCs and timeouts on the simulator's
    clock. A late answer costs virtual time (the firmware runs on while the controller waits);
    one that never comes, or comes corrupted, costs the whole timeout and raises, as on a real
    line, so retries and the communication-loss fault behave as they would over a serial port.

    While no line fault is active the bytes would decode to exactly what the firmware holds, so
    the transport reads the image directly then (framing costs 2.7× the run time otherwise)."""

    name = "lockstep-rtu"

    def __init__(self, line: Line, unit: int = 1, timeout_s: float = 0.05, retries: int = 1,
                 costs_time: bool = True) -> None:
        super().__init__(FramerRTU, unit, timeout_s, retries)
        self.line = line
        # False for a device on a shared line of a stand of several devices: on a real clock
        # its own thread waits for the line, not the loop
        self.costs_time = costs_time
        self._direct = LockstepTransport(line.fw, line.device)
        self._rx = b""
        self._delay = 0.0

    def _open(self) -> None:
        pass

    def _close(self) -> None:
        self._pending = None

    def _read(self, table: str, address: int, count: int) -> list[int]:
        if self.line.clean():
            self._settle()
            return self._direct.read_image(table, address, count)
        return super()._read(table, address, count)

    def _begin(self, table: str, address: int, count: int) -> None:
        if not self.line.clean():
            super()._begin(table, address, count)

    def _end(self, table: str, address: int, count: int) -> list[int]:
        return self._read(table, address, count) if self.line.clean() else super()._end(table, address, count)

    def _write_table(self, table: str, address: int, values: list[int]) -> None:
        if self.line.clean():
            self._settle()
            return self._direct.write_image(table, address, values)
        return super()._write_table(table, address, values)

    def _write_table_nowait(self, table: str, address: int, values: list[int]) -> None:
        if self.line.clean():
            self._settle()
            return self._direct.write_image(table, address, values)
        return super()._write_table_nowait(table, address, values)

    def _send(self, frame: bytes) -> None:
        self._rx, self._delay = self.line.exchange(frame)

    def _receive(self, req: Request) -> list[int]:
        fw = self.line.fw
        wait = fw.advance if self.costs_time else (lambda s: None)
        if self._rx and self._delay < self.timeout_s:
            wait(self._delay)
            _, values = self._scan_rtu(self._rx, req)
            if values is not None:
                return values
            wait(self.timeout_s - self._delay)  # nothing valid arrived: wait out the timeout
            raise TransportTimeout(f"no valid answer from unit {self.unit} within {self.timeout_s * 1000:.0f} ms "
                                   f"({len(self._rx)} bytes failed the RTU frame check)")
        wait(self.timeout_s)
        raise TransportTimeout(f"no answer from unit {self.unit} within {self.timeout_s * 1000:.0f} ms")
