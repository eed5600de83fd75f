"""Loop timing statistics in bounded memory: what summary.json, the console and the benchmarks
report about how well the cycle kept its deadlines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

CHUNK = 65536  # cycles per lateness chunk
KEEP_CHUNKS = 4  # chunks kept raw: exact figures over the last ~4 min at 1 kHz
HIST_BIN_S = 10e-6  # whole-run lateness histogram: 10 µs bins up to 1 s, then one overflow bin
HIST_BINS = 100_000


@dataclass
class LoopStats:
    """Timing of a run; ``summary()`` is what summary.json and the benchmarks report.

    Memory stays bounded however long the controller runs (a service runs for days): the most
    recent chunks of per-cycle lateness are kept raw, older ones are folded into a 10 µs
    histogram. While every cycle is still held the figures are exact; after that, whole-run
    percentiles come from the histogram (10 µs resolution; the maximum stays exact)."""

    target_hz: float
    cycles: int = 0
    overruns: int = 0  # deadlines skipped because a cycle ended after the next one
    met: int = 0  # cycles that started before their next deadline (lateness < one period)
    failed_cycles: int = 0
    _chunks: list[np.ndarray] = field(default_factory=list)
    _buf: np.ndarray = field(default_factory=lambda: np.empty(CHUNK))
    _skips: list[np.ndarray] = field(default_factory=list)  # deadlines skipped after each held cycle
    _skip_buf: np.ndarray = field(default_factory=lambda: np.zeros(CHUNK, dtype=np.int32))
    _n: int = 0
    _hist: np.ndarray | None = None
    _folded: int = 0
    _max: float = 0.0
    _late_count: int = 0
    t_first: float = 0.0
    t_last: float = 0.0
    # the controller's own work per cycle (the cycle minus its time in transport calls), seconds;
    # the last CHUNK cycles
    _work: np.ndarray = field(default_factory=lambda: np.zeros(CHUNK))
    _work_n: int = 0

    def add_work(self, seconds: float) -> None:
        """Record the controller's own work in the cycle just run."""
        self._work[self._work_n % CHUNK] = seconds
        self._work_n += 1

    def work_us(self, last: int | None = None) -> tuple[float, float]:
        """Median and p99 of the controller's own work per cycle (µs) over the last cycles held."""
        n = min(self._work_n, CHUNK)
        if n == 0:
            return 0.0, 0.0
        w = np.roll(self._work, -(self._work_n % CHUNK))[CHUNK - n:] if self._work_n > CHUNK else self._work[:n]
        if last is not None:
            w = w[-last:]
        p50, p99 = np.percentile(w, [50, 99])
        return float(p50) * 1e6, float(p99) * 1e6

    def add(self, lateness: float) -> None:
        """Record one cycle's lateness (seconds)."""
        if self._n == CHUNK:
            self._rotate()
        self._buf[self._n] = lateness
        self._skip_buf[self._n] = 0
        self._n += 1
        self.cycles += 1
        if lateness <= self._period:
            self.met += 1

    def skipped(self, n: int) -> None:
        """``n`` deadlines passed while the last cycle ran: skipped, each one a miss."""
        self.overruns += n
        if self._n:
            self._skip_buf[self._n - 1] += n

    @property
    def _period(self) -> float:
        return 1.0 / self.target_hz

    @property
    def deadlines_due(self) -> int:
        """Every deadline of the run: the cycles run and the ones skipped (a skipped deadline is a miss)."""
        return self.cycles + self.overruns

    @property
    def met_share(self) -> float:
        """Deadlines met over deadlines due: the honest real-time figure (0 before the first)."""
        due = self.deadlines_due
        return self.met / due if due else 0.0

    def _rotate(self) -> None:
        chunk = self._buf
        self._chunks.append(chunk)
        self._skips.append(self._skip_buf)
        self._max = max(self._max, float(chunk.max()))
        self._late_count += int(np.count_nonzero(chunk > 1.0 / self.target_hz))
        self._skip_buf = np.zeros(CHUNK, dtype=np.int32)
        if len(self._chunks) > KEEP_CHUNKS:
            old = self._chunks.pop(0)
            self._skips.pop(0)
            if self._hist is None:
                self._hist = np.zeros(HIST_BINS + 1, dtype=np.int64)
            self._hist += _bin_counts(old)
            self._folded += len(old)
            self._buf = old  # reuse: no allocation per chunk
        else:
            self._buf = np.empty(CHUNK)
        self._n = 0

    def recent_met_share(self, n: int) -> tuple[float, int]:
        """Deadlines met over deadlines due over the last ``n`` cycles (and the skips after
        them), and that number due; cheap enough for every status message (a slice of the
        current chunk, the previous one's tail when the chunk is young)."""
        lat, skips = self._buf[max(0, self._n - n) : self._n], self._skip_buf[max(0, self._n - n) : self._n]
        if len(lat) < n and self._chunks:
            k = n - len(lat)
            lat = np.concatenate([self._chunks[-1][-k:], lat])
            skips = np.concatenate([self._skips[-1][-k:], skips])
        due = len(lat) + int(skips.sum())
        return (int(np.count_nonzero(lat <= self._period)) / due if due else 0.0), due

    @property
    def chunks_held(self) -> int:
        """Full chunks of per-cycle lateness still held raw (the rest is in the histogram)."""
        return len(self._chunks)

    def recent(self) -> np.ndarray:
        """Lateness of the cycles still held raw (the last few minutes at 1 kHz), seconds."""
        return np.concatenate([*self._chunks, self._buf[: self._n]])

    def summary(self, last: int | None = None) -> dict[str, Any]:
        """Rate, lateness percentiles (ms), overruns; over the ``last`` cycles if given (at most
        what is held raw; the rate and the overrun count stay whole-run figures)."""
        raw = self.recent()
        period = 1.0 / self.target_hz
        span = self.t_last - self.t_first
        out: dict[str, Any] = {
            "target_hz": self.target_hz,
            "achieved_hz": (self.cycles - 1) / span if span > 0 and self.cycles > 1 else 0.0,
            "cycles": self.cycles,
            "overruns": self.overruns,
            "failed_cycles": self.failed_cycles,
            # a deadline is met when its cycle starts before the next one; skipped ones are misses
            "deadlines_due": self.deadlines_due,
            "deadlines_met": self.met,
            "deadlines_met_share": self.met_share,
        }
        if last is not None or self._hist is None:
            lat = raw[-last:] if last is not None else raw
            n = len(lat)
            p50, p99 = (np.percentile(lat, [50, 99]) if n else (0.0, 0.0))
            mx = float(lat.max()) if n else 0.0
            late = float(np.mean(lat > period)) if n else 0.0
            if last is not None:  # the deadlines of the window: its cycles and what was skipped after them
                skips = np.concatenate([*self._skips, self._skip_buf[: self._n]])[-last:]
                due = n + int(skips.sum())
                met = int(np.count_nonzero(lat <= period))
                out.update(deadlines_due=due, deadlines_met=met, deadlines_met_share=met / due if due else 0.0)
        else:
            counts = self._hist + _bin_counts(raw)
            p50, p99 = _hist_percentile(counts, 50), _hist_percentile(counts, 99)
            mx = max(self._max, float(raw.max()) if len(raw) else 0.0)
            late_tail = int(np.count_nonzero(self._buf[: self._n] > period))
            late = (self._late_count + late_tail) / self.cycles
        w50, w99 = self.work_us(last)
        out.update(lateness_p50_ms=float(p50) * 1e3, lateness_p99_ms=float(p99) * 1e3,
                   lateness_max_ms=mx * 1e3, late_share=late, work_p50_us=w50, work_p99_us=w99)
        return out


def _bin_counts(lat: np.ndarray) -> np.ndarray:
    idx = np.clip((lat / HIST_BIN_S).astype(np.int64), 0, HIST_BINS)
    return np.bincount(idx, minlength=HIST_BINS + 1)


def _hist_percentile(counts: np.ndarray, q: float) -> float:
    """The q-th percentile from the histogram: the middle of the bin it falls in (seconds)."""
    total = int(counts.sum())
    if total == 0:
        return 0.0
    k = int(np.searchsorted(np.cumsum(counts), q / 100.0 * total, side="left"))
    return (k + 0.5) * HIST_BIN_S
