"""T-time from the rows: where T-0 is, and where the count stood still.

The console's time axis runs in real seconds: a hold, a prompt or a wait stops the
sequence clock but not the stand, and what happened meanwhile (a tank drifting toward its
redline during a GO/NO-GO poll) keeps its place in time. Where the count stood still is shaded,
so the operator sees why, after a prompt, the axis reads later than the sequence clock; the
cursor readout gives both.

T-0 comes from each row's ``t_seq`` (hil/frames.py): before the count reaches it, it is where
T-0 will be if the count runs on (during a hold it moves later with every frame, as a countdown
clock does); from the first row at or after T-0 it is fixed for the run.
"""

from __future__ import annotations

import math

import numpy as np

MIN_STOP_S = 0.1  # shorter stops of the clock (a wait met on the next cycle) are not shaded


class SeqClock:
    """T-0 and the stops of the sequence clock, fed with ``(time, t_seq)`` columns as rows
    arrive (live) or all at once (a replay)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.t0: float | None = None
        self.fixed = False  # T-0 has been reached in this run
        self.stops: list[list[float]] = []  # [loop time stopped, loop time resumed (nan: still), t_seq]
        self._last_t = math.nan
        self._last_s = math.nan

    def add(self, t: np.ndarray, s: np.ndarray) -> None:
        """Rows in time order: ``t`` loop time, ``s`` their sequence clock (NaN: no sequence)."""
        if not len(t):
            return
        prev_t = np.concatenate(([self._last_t], t[:-1]))
        prev_s = np.concatenate(([self._last_s], s[:-1]))
        fin, prev_fin = np.isfinite(s), np.isfinite(prev_s)
        self._last_t, self._last_s = float(t[-1]), float(s[-1])
        starts = np.flatnonzero(fin & ~prev_fin)
        ends = np.flatnonzero(~fin & prev_fin)
        for i in ends:  # a run that ended closes its open stop
            self._close(float(prev_t[i]))
        if len(starts):  # a new run: its own T-0
            k = int(starts[-1])
            self._close(float(prev_t[k]) if np.isfinite(prev_t[k]) else float(t[k]))
            self.fixed = False
            t, s, prev_t, prev_s, fin = t[k:], s[k:], prev_t[k:], prev_s[k:], fin[k:]
            prev_s = prev_s.copy()
            prev_s[0] = math.nan
        if not fin.any():
            return
        if not self.fixed:
            reached = np.flatnonzero(fin & (s >= 0.0))
            j = int(reached[0]) if len(reached) else int(np.flatnonzero(fin)[-1])
            self.t0, self.fixed = float(t[j] - s[j]), bool(len(reached))
        self._stops(t, s, prev_t, prev_s)

    def _stops(self, t: np.ndarray, s: np.ndarray, prev_t: np.ndarray, prev_s: np.ndarray) -> None:
        still = np.isfinite(s) & (s == prev_s)
        edges = np.flatnonzero(np.diff(np.concatenate(([False], still, [False])).astype(np.int8)))
        if not (len(edges) and edges[0] == 0):  # the clock ran at this batch's first row
            self._close(float(prev_t[0]))
        for a, b in zip(edges[0::2], edges[1::2]):  # rows a..b-1 did not advance the clock
            if not (a == 0 and self.stops and math.isnan(self.stops[-1][1])):
                self.stops.append([float(prev_t[a]), math.nan, float(s[a])])
            if b < len(t):
                self.stops[-1][1] = float(t[b - 1])

    def _close(self, t: float) -> None:
        if self.stops and math.isnan(self.stops[-1][1]):
            self.stops[-1][1] = t

    def shown_stops(self, now: float) -> list[tuple[float, float, float]]:
        """Stops long enough to shade: (from, to, the sequence clock there); an open one ends now."""
        out = []
        for a, b, ts in self.stops:
            b = now if math.isnan(b) else b
            if b - a >= MIN_STOP_S:
                out.append((a, b, ts))
        return out

    def label(self, t: float, t_seq: float) -> str:
        """The cursor's time: T-time, and the sequence clock where a stop made them differ."""
        if self.t0 is None:
            return f"t={t:.3f} s"
        rel = t - self.t0
        text = f"T{rel:+.3f} s"
        if math.isfinite(t_seq) and abs(t_seq - rel) > 1e-3:
            text += f" (sequence T{t_seq:+.3f})"
        return text
