"""Min/max decimation of the live plots, kept from frame to frame.

A 60 s window at 1 kHz is 60,000 rows per curve; the screen has ~1,000 pixel columns. Each
pixel column shows the minimum and maximum of its rows (a hard-start spike must not vanish),
so a frame needs ~2,000 points per curve. Computing them from scratch every frame cost ~5 ms
for 12 curves; but between two frames at 30 fps only ~33 rows arrive, filling about one
column. :class:`PeakCache` keeps the columns already complete and folds in only the rows that
arrived since, so the decimation costs the same whatever the window holds.

Columns are fixed in time (``width_s`` each, aligned to multiples of ``width_s``), so a column
once complete never changes as the window scrolls.
"""

from __future__ import annotations

import math

import numpy as np


def peak_decimate(x: np.ndarray, bins: int, time_axis: bool = False) -> np.ndarray:
    """Min/max of each of ``bins`` equal slices, interleaved: every spike stays visible while
    a long trace becomes ~2 points per pixel column. Time is decimated to each slice's first
    and last sample. (Replays and paused views, where there is no frame-to-frame reuse.)"""
    n = len(x)
    k = n // bins
    if k < 3:
        return x
    m = k * bins
    head = x[n - m :].reshape(bins, k)  # keep the newest samples exact
    out = np.empty(2 * bins)
    if time_axis:
        out[0::2], out[1::2] = head[:, 0], head[:, -1]
    else:
        out[0::2], out[1::2] = head.min(axis=1), head.max(axis=1)
    return out


class PeakCache:
    """Per-column min/max of some columns of a time-ordered row buffer, over a sliding window."""

    def __init__(self, columns: list[int], window_s: float, bins: int) -> None:
        self.columns = np.asarray(columns, dtype=np.intp)
        self.window_s = window_s
        self.bins = max(1, bins)
        self.width_s = window_s / self.bins
        self.reset()

    def reset(self) -> None:
        """Forget every column (a new run, a cleared buffer, a resize)."""
        k = len(self.columns)
        self.first: int | None = None  # absolute index (time / width_s) of the first column held
        self.done = 0  # absolute index of the first column not yet complete
        self.t = np.empty((0, 2))  # first and last sample time of each complete column held
        self.lo = np.empty((0, k))
        self.hi = np.empty((0, k))
        self.t_last = -math.inf

    def update(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The window ending at the newest row of ``data`` (rows oldest first, time in column
        0): x (2 per column: first and last sample time) and y (2 per column: min and max,
        one column of the result per tracked column)."""
        t_all = data[:, 0]
        if len(t_all) == 0:
            return np.empty(0), np.empty((0, len(self.columns)))
        t_new = float(t_all[-1])
        if t_new < self.t_last:
            self.reset()  # time went backwards: a new run or a restarted controller
        self.t_last = t_new
        current = self.column(t_new)  # the column still filling
        first_wanted = current - self.bins + 1
        if self.first is None or self.done < first_wanted:  # nothing held is still in the window
            self.reset()
            self.t_last = t_new
            self.first = self.done = max(first_wanted, self.column(float(t_all[0])))
        if current > self.done:  # complete the columns that filled since the last frame
            t_cols, lo, hi = self._reduce(data, t_all, self.done, current)
            self.t = np.concatenate([self.t, t_cols])
            self.lo = np.concatenate([self.lo, lo])
            self.hi = np.concatenate([self.hi, hi])
            self.done = current
        drop = first_wanted - self.first
        if drop > 0:
            self.t, self.lo, self.hi = self.t[drop:], self.lo[drop:], self.hi[drop:]
            self.first = first_wanted
        t_cur, lo_cur, hi_cur = self._reduce(data, t_all, current, current + 1)
        n = len(self.lo) + 1
        x = np.concatenate([self.t.reshape(-1), t_cur.reshape(-1)])
        y = np.empty((2 * n, len(self.columns)))
        y[0:-2:2], y[1:-2:2] = self.lo, self.hi
        y[-2], y[-1] = lo_cur[0], hi_cur[0]
        return x, y

    def column(self, t: float) -> int:
        """The column a time falls in: [k * width_s, (k + 1) * width_s), with the edges computed
        exactly as :meth:`_reduce` computes them (a division alone can land on the wrong side)."""
        w = self.width_s
        k = math.floor(t / w)
        if t >= (k + 1) * w:
            return k + 1
        if t < k * w:
            return k - 1
        return k

    def _reduce(self, data: np.ndarray, t_all: np.ndarray, a: int, b: int) -> tuple[np.ndarray, ...]:
        """Columns a..b-1: their first/last sample times and min/max rows. A column with no
        rows (a gap in the data) is NaN, drawn as a gap."""
        edges = np.searchsorted(t_all, np.arange(a, b + 1) * self.width_s, side="left")
        starts, ends = edges[:-1], edges[1:]
        n = b - a
        k = len(self.columns)
        t = np.full((n, 2), np.nan)
        lo = np.full((n, k), np.nan)
        hi = np.full((n, k), np.nan)
        filled = ends > starts
        if filled.any():
            s, e = starts[filled], ends[filled]
            block = data[s[0] : e[-1]][:, self.columns]
            offsets = s - s[0]
            with np.errstate(invalid="ignore"):
                lo[filled] = np.minimum.reduceat(block, offsets, axis=0)
                hi[filled] = np.maximum.reduceat(block, offsets, axis=0)
            t[filled, 0] = t_all[s]
            t[filled, 1] = t_all[e - 1]
        return t, lo, hi
