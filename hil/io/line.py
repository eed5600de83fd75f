"""A serial line polled in its own thread, so a 10 ms RTU transaction never stalls the loop.

The thread owns the line: it writes what the loop posted (commands first: a valve command must
not wait behind a thermocouple read), then polls whichever device is due, and leaves each
completed poll in a mailbox the loop empties without waiting. Several units share one line and
take turns, as they must on RS-485.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from hil.cycle.clock import Clock
from hil.errors import TransportError
from hil.stand.iomap import ReadBlock, Write
from hil.transport.base import Transport


@dataclass
class Poll:
    """What one poll of a device brought back (values per block, or the error)."""

    t: float  # clock time when the poll completed
    blocks: list[tuple[ReadBlock, list[int]]] = field(default_factory=list)
    error: str = ""


@dataclass
class _Unit:
    name: str
    transport: Transport
    blocks: list[ReadBlock]
    period: float
    due: float = 0.0
    outbox: dict[tuple[str, int], Write] = field(default_factory=dict)


class LinePoller:
    """One thread per serial line, polling its devices at their own rates."""

    def __init__(self, serial: str, clock: Clock) -> None:
        self.serial = serial
        self.clock = clock
        self.units: dict[str, _Unit] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._mail: dict[str, list[Poll]] = {}
        self._write_errors: dict[str, str] = {}
        self._thread: threading.Thread | None = None
        self.polls = 0

    def add(self, name: str, transport: Transport, blocks: list[ReadBlock], period: float) -> None:
        """A device on this line (before :meth:`start`)."""
        self.units[name] = _Unit(name, transport, blocks, period)
        self._mail[name] = []

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"line {self.serial}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (the thread finishes its transaction). The links stay open for a last
        :meth:`flush`; whoever opened them closes them."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def post(self, device: str, writes: list[Write]) -> None:
        """Output blocks that changed: written before the line's next poll (a newer value of a
        block replaces one not yet written)."""
        with self._lock:
            box = self.units[device].outbox
            for w in writes:
                box[w.table, w.address] = w
        self._wake.set()

    def take(self, device: str) -> tuple[list[Poll], str]:
        """Polls completed since the last take, and the last write error (cleared)."""
        with self._lock:
            polls, self._mail[device] = self._mail[device], []
            err = self._write_errors.pop(device, "")
        return polls, err

    def flush(self) -> None:
        """Write what is posted now, from the caller's thread (shutdown: the line thread is
        stopped, the safing writes must still go out)."""
        for u in self.units.values():
            self._write(u)

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        from hil.rt import background_thread

        background_thread()
        while not self._stop.is_set():
            for u in self.units.values():
                self._write(u)
            now = self.clock.now()
            unit = min(self.units.values(), key=lambda x: x.due)
            if unit.due > now:
                self._wake.wait(unit.due - now)
                self._wake.clear()
                continue
            unit.due = max(unit.due + unit.period, now)
            self._poll(unit)

    def _write(self, u: _Unit) -> None:
        with self._lock:
            writes, u.outbox = u.outbox, {}
        if not writes:
            return
        try:
            for w in writes.values():
                u.transport.write(w.table, w.address, w.values, wait=True)
        except TransportError as exc:
            with self._lock:
                self._write_errors[u.name] = f"write: {exc}"
                u.outbox = {**writes, **u.outbox}  # try again before the next poll

    def _poll(self, u: _Unit) -> None:
        poll = Poll(0.0)
        try:
            for b in u.blocks:
                poll.blocks.append((b, u.transport.read_registers(b.table, b.start, b.count)))
        except TransportError as exc:
            poll.error = f"read: {exc}"
        poll.t = self.clock.now()
        self.polls += 1
        with self._lock:
            box = self._mail[u.name]
            box.append(poll)
            del box[:-8]  # the loop empties it every cycle; keep only the last few if it stalls
