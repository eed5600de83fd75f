"""Lockstep: the controller reads and writes the simulated firmware's register image directly,
on the simulator's virtual clock. Same code paths as the socket runs except the wire.

The firmware's ``stop_answering`` fault becomes a timeout here too, so fault tests do not need
a socket; ``slow_response`` has no meaning without a wire and is ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hil.errors import DeviceException, TransportTimeout
from hil.transport.base import INPUT, Transport

if TYPE_CHECKING:
    from firmware_sim.firmware import Firmware


class LockstepTransport(Transport):
    """Direct access to a Firmware in the same process."""

    name = "lockstep"

    def __init__(self, firmware: Firmware) -> None:
        super().__init__(timeout_s=0.0, retries=0)
        self.fw = firmware

    def _open(self) -> None:
        pass

    def _close(self) -> None:
        pass

    def _check_faults(self) -> None:
        if not self.fw.answering:
            raise TransportTimeout("simulated firmware is not answering")
        if self.fw.exception_code:
            raise DeviceException("simulated firmware answers with an exception", self.fw.exception_code)

    def _read(self, table: str, address: int, count: int) -> list[int]:
        self._check_faults()
        if table == INPUT:
            if not self.fw.input_ok(address, count):
                raise DeviceException(f"input registers {address}+{count} out of range", 2)
            return self.fw.read_input_registers(address, count)
        if not self.fw.holding_ok(address, count):
            raise DeviceException(f"holding registers {address}+{count} out of range", 2)
        return self.fw.read_holding_registers(address, count)

    def _write(self, address: int, values: list[int]) -> None:
        self._check_faults()
        if not self.fw.holding_ok(address, len(values)):
            raise DeviceException(f"holding registers {address}+{len(values)} out of range", 2)
        self.fw.write_holding_registers(address, values)
