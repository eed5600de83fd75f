"""T-time on the plots: the axis labelled around T-0, the T0 marker and the shaded stops.

The plots keep the loop's time as their x data (the decimation cache and the scrolling are
built on it) and only *label* it relative to T-0 (gui/seqclock.py says where that is), so
moving T-0 costs one axis relayout, not a redraw of every curve.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg

from hil.gui.seqclock import SeqClock

LABEL_STOP_S = 2.0


class TAxis(pg.AxisItem):
    """A time axis labelled T-10, T0, T+5 around ``t0`` (plain seconds while there is none),
    with its ticks on round T-times."""

    def __init__(self, orientation: str = "bottom", **kw: Any) -> None:
        super().__init__(orientation, **kw)
        self.t0: float | None = None

    def set_t0(self, t0: float | None, exact: bool = False) -> bool:
        """Move T-0; True when the axis had to be laid out again. A projected T-0 that moved by
        less than a millisecond (float rounding from row to row) is not worth a new layout;
        ``exact`` (T-0 reached, fixed for the run) is always taken, or the T0 tick and line
        would stay up to a millisecond off and the tick read "T-0" instead of "T0"."""
        if t0 == self.t0 or (not exact and t0 is not None and self.t0 is not None and abs(t0 - self.t0) < 1e-3):
            return False
        self.t0 = t0
        self.picture = None
        self.update()
        return True

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:
        off = self.t0 or 0.0
        return [(sp, [v + off for v in vals]) for sp, vals in super().tickValues(minVal - off, maxVal - off, size)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        if self.t0 is None:
            return super().tickStrings(values, scale, spacing)
        rel = [v - self.t0 for v in values]
        out = []
        for r, text in zip(rel, super().tickStrings(rel, scale, spacing)):
            if abs(r) < 1e-6 * max(spacing, 1e-9):
                out.append("T0")
            else:
                out.append("T" + (text if text.startswith("-") else "+" + text))
        return out


class TMarks:
    """The T0 line on every plot and, on the chamber-pressure plot, the stretches where the
    count stood still, shaded and labelled with the sequence clock there."""

    def __init__(self, plots: dict[str, pg.PlotItem], axis: TAxis, first: str = "pc") -> None:
        self.axis, self.first, self.plot = axis, first, plots[first]
        self.lines: list[pg.InfiniteLine] = []
        for key, p in plots.items():
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#2ca02c", width=1),
                                   label="T0" if key == first else None,
                                   labelOpts={"position": 0.95, "color": "#2ca02c"})
            line.setVisible(False)
            p.addItem(line, ignoreBounds=True)
            self.lines.append(line)
        self.regions: list[tuple[pg.LinearRegionItem, pg.InfLineLabel]] = []
        self._shown: list[tuple[float, float, float]] = []

    def update(self, clock: SeqClock, now: float) -> None:
        """Follow the clock: T-0 (the axis and the lines) and the stops up to ``now``."""
        if self.axis.set_t0(clock.t0, exact=clock.fixed):
            self.axis.setLabel("T-time [s]" if clock.t0 is not None else "time [s]")
            for line in self.lines:
                line.setVisible(clock.t0 is not None)
                if clock.t0 is not None:
                    line.setPos(clock.t0)
        stops = clock.shown_stops(now)
        if stops == self._shown:
            return
        self._shown = stops
        while len(self.regions) < len(stops):
            region = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(120, 120, 120, 40),
                                         pen=pg.mkPen(None))
            label = pg.InfLineLabel(region.lines[0], text="", position=0.85, anchor=(0, 0), color="#555")
            self.plot.addItem(region, ignoreBounds=True)
            self.regions.append((region, label))
        for k, (region, label) in enumerate(self.regions):
            region.setVisible(k < len(stops))
            if k < len(stops):
                a, b, ts = stops[k]
                region.setRegion((a, b))
                # named when long enough to be someone's doing (a hold, a poll); a wait for Pc is
                # shaded only, or the labels of a relight pile up over the legend
                label.setText(f"count stopped at T{ts:+.2f}" if b - a >= LABEL_STOP_S else "")
