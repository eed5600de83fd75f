"""The one interface the loop uses to reach a stand, with timeouts, retries and error mapping
owned here once (python-can's pattern): backends implement ``_transact`` or override the two
block operations, and never see a retry loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from hil.errors import DeviceException, TransportError, TransportTimeout
from hil.stand.devices import TransportConfig
from hil.stand.registers import MAX_READ, MAX_WRITE

INPUT, HOLDING, DISCRETE, COIL = "input", "holding", "discrete", "coil"
BITS = (DISCRETE, COIL)
MAX_READ_BITS, MAX_WRITE_BITS = 2000, 1968  # Modbus limits on bits per read (FC 1/2) and write (FC 15)


@dataclass
class TransportStats:
    """Counters a run reports: how hard the link had to work, and every frame it threw away
    (a dropped frame is never decoded into values; docs/stand-config.md, "Answers")."""

    transactions: int = 0
    retries: int = 0
    timeouts: int = 0
    exceptions: int = 0
    reconnects: int = 0
    late_answers: int = 0  # bytes that arrived on a serial line held quiet after this device's timeout
    wrong_unit: int = 0  # a frame from another unit
    wrong_function: int = 0  # a frame answering another function
    wrong_count: int = 0  # a read answer of another byte count (or a malformed length)
    wrong_echo: int = 0  # a write acknowledged with another start address or quantity
    wrong_tid: int = 0  # Modbus TCP: an answer to another transaction
    crc_errors: int = 0  # RTU: a frame failing its CRC (or noise no answer starts with)
    bad_mbap: int = 0  # Modbus TCP: a header no frame has (the connection is dropped)

    def dropped(self) -> int:
        """Frames thrown away because they did not answer their request."""
        return (self.late_answers + self.wrong_unit + self.wrong_function + self.wrong_count + self.wrong_echo
                + self.wrong_tid + self.crc_errors + self.bad_mbap)


class Transport(ABC):
    """Block reads and writes of one Modbus unit's four tables: input and holding registers,
    discrete inputs and coils (bits travel as lists of 0/1)."""

    name = "transport"

    def __init__(self, timeout_s: float = 0.05, retries: int = 1) -> None:
        self.timeout_s = timeout_s
        self.retries = retries
        # the link this transport really uses (a simulator's port or pty may replace the stand
        # file's): the loop polls a serial line in its own thread whatever the file said
        self.link: TransportConfig | None = None
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
        """Read ``count`` registers (≤ 125) or bits (≤ 2000) from one of the four tables."""
        _check_read(table, count)
        return self._with_retries(lambda: self._read(table, address, count))

    def begin_read(self, table: str, address: int, count: int) -> None:
        """Send a read and return without waiting for the answer (:meth:`end_read` collects it).
        The loop sends one to every device before it waits for any, so N devices cost about
        the slowest one, not the sum. A send that fails is raised by :meth:`end_read`."""
        _check_read(table, count)
        self._inflight = (table, address, count)
        self._send_error: TransportError | None = None
        try:
            if not self.connected:
                self.stats.reconnects += 1
                self.connect()
            self.stats.transactions += 1
            self._begin(table, address, count)
        except TransportError as exc:
            self._send_error = exc

    def end_read(self) -> list[int]:
        """The answer to :meth:`begin_read`'s request, with the same retries as a plain read."""
        table, address, count = self._inflight
        err = self._send_error

        def first() -> list[int]:
            if err is not None:
                raise err
            return self._end(table, address, count)

        return self._with_retries(lambda: self._read(table, address, count), first=first)

    def write_coils(self, address: int, values: list[int], wait: bool = True) -> None:
        """Write consecutive coils in one request (FC 15, ≤ 1968); ``wait`` as for registers."""
        if not 1 <= len(values) <= MAX_WRITE_BITS:
            raise ValueError(f"a coil write covers 1..{MAX_WRITE_BITS} coils, not {len(values)}")
        if wait:
            self._with_retries(lambda: self._write_table(COIL, address, values))
        else:
            self._with_retries(lambda: self._write_table_nowait(COIL, address, values))

    def write(self, table: str, address: int, values: list[int], wait: bool = True) -> None:
        """Write holding registers or coils."""
        if table == COIL:
            self.write_coils(address, values, wait)
        else:
            self.write_registers(address, values, wait)

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

    def _with_retries(self, op, first=None):  # noqa: ANN001 - internal
        """Retry timeouts and broken links (reconnecting); never retry an exception response,
        which is the device's deliberate answer. ``first`` is an attempt already under way
        (a request sent by :meth:`begin_read`)."""
        attempt = 0
        while True:
            try:
                if attempt == 0 and first is not None:
                    return first()
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

    def _write_table(self, table: str, address: int, values: list[int]) -> None:
        if table != COIL:
            return self._write(address, values)
        raise NotImplementedError(f"{self.name} cannot write coils")

    def _write_table_nowait(self, table: str, address: int, values: list[int]) -> None:
        self._write_table(table, address, values)

    def _begin(self, table: str, address: int, count: int) -> None:  # noqa: B027 - optional hook
        """Send a read (backends with a wire); by default the read happens in :meth:`_end`."""

    def _end(self, table: str, address: int, count: int) -> list[int]:
        return self._read(table, address, count)

    def _settle(self) -> None:  # noqa: B027 - optional hook, nothing outstanding by default
        pass


def _check_read(table: str, count: int) -> None:
    limit = MAX_READ_BITS if table in BITS else MAX_READ
    if not 1 <= count <= limit:
        raise ValueError(f"a {table} read covers 1..{limit}, not {count}")
