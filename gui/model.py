"""What the console shows, independent of where it comes from (a live controller or a recorded
run): a rolling buffer of rows, the column layout, the latest status and the event log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hil.gui.seqclock import SeqClock


class RingBuffer:
    """Fixed-capacity rows × columns float64 buffer; ``view()`` returns the rows in time order
    without copying when they have not wrapped (the common case for plotting a window)."""

    def __init__(self, capacity: int, columns: int) -> None:
        self.capacity = capacity
        self.data = np.full((2 * capacity, columns), np.nan)  # double-length: a window is always contiguous
        self.start = 0
        self.n = 0

    def extend(self, rows: np.ndarray) -> None:
        """Append rows (oldest dropped beyond capacity)."""
        rows = rows[-self.capacity :]
        k = len(rows)
        end = self.start + self.n
        if end + k > len(self.data):
            keep = min(self.n, self.capacity - k)
            self.data[:keep] = self.data[end - keep : end]
            self.start, self.n, end = 0, keep, keep
        self.data[end : end + k] = rows
        self.n += k
        if self.n > self.capacity:
            self.start += self.n - self.capacity
            self.n = self.capacity

    def view(self) -> np.ndarray:
        """The rows held, oldest first."""
        return self.data[self.start : self.start + self.n]

    def clear(self) -> None:
        self.start = self.n = 0


@dataclass
class ConsoleModel:
    """Everything the panels read. ``columns`` maps names to indices in a row."""

    columns: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    buffer: RingBuffer | None = None
    connected: bool = False
    rows_received: int = 0
    clock: SeqClock = field(default_factory=SeqClock)  # T-0 and the count's stops, from the rows

    def configure(self, meta: dict[str, Any], seconds: float = 60.0) -> None:
        """New controller or new run: take its column layout; keep ``seconds`` of rows."""
        self.meta = meta
        self.columns = list(meta["columns"])
        rate = float(meta.get("rate_hz", 1000.0))
        self.buffer = RingBuffer(int(seconds * rate) + 1, len(self.columns))
        self.rows_received = 0
        self.clock.reset()

    def col(self, name: str) -> int:
        """Index of a column (KeyError names it)."""
        return self.columns.index(name)

    def add_rows(self, rows: np.ndarray) -> None:
        if self.buffer is not None and rows.shape[1] == len(self.columns):
            self.buffer.extend(rows)
            self.rows_received += len(rows)
            self.follow_clock(rows)

    def follow_clock(self, rows: np.ndarray) -> None:
        """T-0 and the count's stops from rows (a live batch, or a whole recorded run)."""
        if "t_seq" in self.columns:
            self.clock.add(rows[:, 0], rows[:, self.columns.index("t_seq")])

    def latest(self) -> dict[str, float]:
        """The newest row by column name (empty before any data)."""
        if self.buffer is None or self.buffer.n == 0:
            return {}
        row = self.buffer.view()[-1]
        return dict(zip(self.columns, row.tolist()))
