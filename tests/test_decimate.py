"""The live plots' decimation kept from frame to frame (gui/decimate.py) against brute force:
every column's min, max and first/last sample time, over a window that slides by random
amounts (frames of any size, long pauses), with gaps and NaNs in the data."""

from __future__ import annotations

import numpy as np

from hil.gui.decimate import PeakCache


def _brute(cache: PeakCache, view: np.ndarray, columns: list[int]) -> tuple[np.ndarray, np.ndarray]:
    t, w = view[:, 0], cache.width_s
    col = np.floor(t / w).astype(np.int64)
    col += t >= (col + 1) * w  # the same edges as the cache: k * w, whatever the division says
    col -= t < col * w
    assert cache.column(float(t[-1])) == col[-1]
    last = int(col[-1])
    first = max(last - cache.bins + 1, int(col[0]))
    xs, ys = [], []
    for k in range(first, last + 1):
        rows = view[np.searchsorted(col, k, "left") : np.searchsorted(col, k, "right")]
        if len(rows) == 0:
            xs += [np.nan, np.nan]
            ys += [[np.nan] * len(columns)] * 2
            continue
        xs += [rows[0, 0], rows[-1, 0]]
        ys += [rows[:, columns].min(axis=0), rows[:, columns].max(axis=0)]
    return np.array(xs), np.array(ys)


def test_the_kept_decimation_equals_decimating_from_scratch_every_frame() -> None:
    rng = np.random.default_rng(0)
    n = 150_000
    t = np.arange(n) / 1000.0 + 3.0
    t[90_000:] += 7.5  # the controller was away for 7.5 s: empty columns, drawn as a gap
    data = np.column_stack([t, rng.normal(size=n), rng.normal(size=n), np.full(n, 4.0)])
    data[5_000:5_100, 1] = np.nan  # a lost device
    data[60_000, 2] = 50.0  # a spike that must survive decimation
    columns = [1, 2, 3]
    cache = PeakCache(columns, window_s=60.0, bins=600)
    pos, frames, saw_spike = 100, 0, False
    while pos < n:
        pos = min(n, pos + int(rng.integers(1, 1500)) + (20_000 if frames % 37 == 36 else 0))  # and long pauses
        view = data[max(0, pos - 70_000) : pos]  # the ring buffer's 70 s
        x, y = cache.update(view)
        bx, by = _brute(cache, view, columns)
        np.testing.assert_array_equal(x, bx)
        np.testing.assert_array_equal(y, by)
        saw_spike |= bool(np.nanmax(y[:, 1]) == 50.0)
        frames += 1
    assert frames > 100 and saw_spike


def test_time_going_backwards_starts_over() -> None:
    """A new run restarts the clock: nothing of the old one may stay on screen."""
    cache = PeakCache([1], window_s=10.0, bins=100)
    old = np.column_stack([np.arange(0, 20, 0.001), np.full(20_000, 9.0)])
    cache.update(old)
    new = np.column_stack([np.arange(0, 1, 0.001), np.full(1_000, 1.0)])
    x, y = cache.update(new)
    assert np.nanmax(y) == 1.0 and np.nanmax(x) < 1.0
