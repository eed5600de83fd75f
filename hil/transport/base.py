"""The one interface the loop uses to reach a stand, with timeouts, retries and error mapping
owned here once (python-can's pattern): backends implement ``_transact`` or override the two
block operations, and never see a retry loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from hil.errors import DeviceException, TransportError, TransportTimeout
from hil.stand.registers import MAX_READ, MAX_WRITE

INPUT, HOLDING = "input", "holding"


@dataclass
class TransportStats:
    """Counters a run reports: how hard the link had to work."""

    transactions: int = 0
    retries: int = 0
    timeouts: int = 0
    exceptions: int = 0
    reconnects: int = 0


class Transport(ABC):
    """Block reads and writes of 16-bit registers on one Modbus unit."""

    name = "transport"

    def __init__(self, timeout_s: float = 0.05, retries: int = 1) -> None:
        self.timeout_s = timeout_s
        self.retries = retries
        self.stats = TransportStats()
        self.connected = False

    # -------------------------------------------------------------- public, final

    def connect(self) -> None:
        """Open the link. Raises TransportError with what could not be reached."""
        if not self.connected:
            self._open()
            self.connected = True

    def close(self) -> None:
        """Close the link; safe to call twice and after failures."""
        if self.connected:
            self.connected = False
            self._close()

    def read_registers(self, table: str, address: int, count: int) -> list[int]:
        """Read ``count`` registers (≤ 125) from the input or holding table."""
        if not 1 <= count <= MAX_READ:
            raise ValueError(f"a read covers 1..{MAX_READ} registers, not {count}")
        return self._with_retries(lambda: self._read(table, address, count))

    def write_registers(self, address: int, values: list[int], wait: bool = True) -> None:
        """Write consecutive holding registers in one request (≤ 123).

        ``wait=False`` sends the request and collects its acknowledgement before the next
        transaction (or at :meth:`settle`): the loop's cycle then ends at the send, and the
        ack arrives while it sleeps. A failed ack is raised by the next call; the loop writes
        the whole command block every cycle, so a lost write is repaired one cycle later.
        """
        if not 1 <= len(values) <= MAX_WRITE:
            raise ValueError(f"a write covers 1..{MAX_WRITE} registers, not {len(values)}")
        if wait:
            self._with_retries(lambda: self._write(address, values))
        else:
            self._with_retries(lambda: self._write_nowait(address, values))

    def settle(self) -> None:
        """Collect any acknowledgement still outstanding (raises what it failed with)."""
        if self.connected:
            self._settle()

    def __enter__(self) -> Transport:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- retry policy

    def _with_retries(self, op):  # noqa: ANN001 - internal
        """Retry timeouts and broken links (reconnecting); never retry an exception response,
        which is the device's deliberate answer."""
        attempt = 0
        while True:
            try:
                if not self.connected:
                    self.stats.reconnects += 1
                    self.connect()
                self.stats.transactions += 1
                return op()
            except DeviceException:
                self.stats.exceptions += 1
                raise
            except TransportTimeout:
                self.stats.timeouts += 1
                if attempt >= self.retries:
                    raise
            except TransportError:
                self.close()
                if attempt >= self.retries:
                    raise
            attempt += 1
            self.stats.retries += 1

    # -------------------------------------------------------------- backends

    @abstractmethod
    def _open(self) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    @abstractmethod
    def _read(self, table: str, address: int, count: int) -> list[int]: ...

    @abstractmethod
    def _write(self, address: int, values: list[int]) -> None: ...

    def _write_nowait(self, address: int, values: list[int]) -> None:
        self._write(address, values)  # backends without a wire have nothing to overlap

    def _settle(self) -> None:  # noqa: B027 - optional hook, nothing outstanding by default
        pass
