"""Live plots: chamber pressure measured vs commanded with the redline band, thrust, feed and
injector pressures, valve commands vs positions. A rolling window (60 s by default) that
follows the newest data unless paused; zoom and pan with the mouse; a cursor readout.

Kept smooth at 1 kHz with many curves by decimating each curve to min/max per pixel column
before it reaches pyqtgraph, clip-to-view, pen width 1 (reference/toolchain.md: wider pens cost
~10×) and no grid (drawn through the axes, it cost ~17 ms per axis per frame in software raster).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from hil.gui.model import ConsoleModel

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]


def classify(meta: dict[str, Any]) -> dict[str, list[str]]:
    """Which columns go in which plot: as the stand file declares (each channel's ``plot``, or
    its role), never guessed from names or units. The valves plot adds the proportional
    actuators' commands beside their position feedback."""
    chans = meta.get("channels", [])
    out: dict[str, list[str]] = {"pc": [], "thrust": [], "pressures": [], "valves": []}
    for c in chans:
        if c.get("plot") in out:
            out[c["plot"]].append(c["name"])
    out["valves"] = [f"cmd.{a['name']}" for a in meta.get("actuators", []) if a["kind"] == "proportional"] \
        + sorted(out["valves"])
    return out


def peak_decimate(x: np.ndarray, bins: int, time_axis: bool = False) -> np.ndarray:
    """Min/max of each of ``bins`` equal slices, interleaved: every spike stays visible (a
    hard-start peak must not vanish in a plot) while a 60 s × 1 kHz trace becomes ~2 points per
    pixel column. Time is decimated to each slice's first and last sample."""
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


class PlotPanel(QWidget):
    """Four stacked plots sharing the time axis."""

    def __init__(self, model: ConsoleModel, window_s: float = 60.0) -> None:
        super().__init__()
        self.model = model
        self.window_s = window_s
        self.paused = False
        self.frames = 0
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        top = QHBoxLayout()
        self.pause_box = QCheckBox("Pause (zoom/pan freely)")
        self.pause_box.toggled.connect(self._pause)
        self.readout = QLabel("")
        self.readout.setObjectName("cursorReadout")
        top.addWidget(self.pause_box)
        top.addStretch(1)
        top.addWidget(self.readout)
        lay.addLayout(top)
        self.glw = pg.GraphicsLayoutWidget()
        lay.addWidget(self.glw, 1)
        self.plots: dict[str, pg.PlotItem] = {}
        titles = {"pc": "Chamber pressure [MPa]", "thrust": "Thrust [kN]", "pressures": "Feed / injector [MPa]",
                  "valves": "Valves: command vs position [%]"}
        prev = None
        for i, key in enumerate(("pc", "thrust", "pressures", "valves")):
            p = self.glw.addPlot(row=i, col=0)
            p.setLabel("left", titles[key])
            # no grid: pyqtgraph draws it through the axis items, which costs ~17 ms per axis per
            # frame in software raster (measured: it took the frame rate from 60 to 2 fps)
            p.setClipToView(True)  # and peak_decimate() below: ~2 points per pixel column reach Qt
            p.addLegend(offset=(-10, 5), labelTextSize="8pt")
            if prev is not None:
                p.setXLink(prev)
            prev = p
            self.plots[key] = p
        self.plots["valves"].setLabel("bottom", "time [s]")
        for key in ("pc", "thrust", "pressures"):
            self.plots[key].hideAxis("bottom")  # linked x: one time axis is enough, and ticks cost per frame
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.band_hi: pg.PlotDataItem | None = None
        self.band_lo: pg.PlotDataItem | None = None
        self.limit_lines: list[pg.InfiniteLine] = []
        self.time_cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888", style=pg.QtCore.Qt.PenStyle.DashLine))
        self.plots["pc"].addItem(self.time_cursor, ignoreBounds=True)
        self._proxy = pg.SignalProxy(self.plots["pc"].scene().sigMouseMoved, rateLimit=30, slot=self._mouse)
        self.groups: dict[str, list[str]] = {}

    def configure(self) -> None:
        """Build the curves for the model's columns (a new controller or run)."""
        for p in self.plots.values():
            for item in list(p.listDataItems()):
                p.removeItem(item)
            for line in self.limit_lines:
                p.removeItem(line)
        self.limit_lines = []
        self.curves.clear()
        meta = self.model.meta
        self.groups = classify(meta)
        for key, names in self.groups.items():
            for i, name in enumerate(names):
                if name not in self.model.columns:
                    continue
                style = pg.QtCore.Qt.PenStyle.DashLine if name.startswith("cmd.") else pg.QtCore.Qt.PenStyle.SolidLine
                pen = pg.mkPen(PALETTE[i % len(PALETTE)], width=1, style=style)
                self.curves[name] = self.plots[key].plot(name=name, pen=pen)
        if "pc_setpoint" in self.model.columns:
            self.curves["pc_setpoint"] = self.plots["pc"].plot(name="commanded Pc", pen=pg.mkPen("#000", width=1))
            band = pg.mkPen("#d62728", width=1, style=pg.QtCore.Qt.PenStyle.DotLine)
            self.band_hi = self.plots["pc"].plot(name="redline band", pen=band)
            self.band_lo = self.plots["pc"].plot(pen=band)
        pcs = set(self.groups.get("pc", []))
        for rl in meta.get("redlines", []):
            if set(rl["channels"]) & pcs and rl.get("max") not in (None, float("inf")) and np.isfinite(rl["max"]):
                line = pg.InfiniteLine(pos=rl["max"], angle=0, pen=pg.mkPen("#d62728", width=1),
                                       label=rl["name"], labelOpts={"position": 0.05, "color": "#d62728"})
                self.plots["pc"].addItem(line)
                self.limit_lines.append(line)
        self._frac = [(r.get("min_frac"), r.get("max_frac")) for r in meta.get("redlines", []) if set(r["channels"]) & pcs]

    def _pause(self, on: bool) -> None:
        self.paused = on
        for p in self.plots.values():
            p.enableAutoRange(x=not on)

    def refresh(self, data: np.ndarray | None = None) -> None:
        """Redraw from the model's buffer (or from ``data``, e.g. a replay window)."""
        if data is None:
            if self.model.buffer is None or self.paused:
                return
            data = self.model.buffer.view()
        if len(data) == 0:
            return
        cols = self.model.columns
        t_all = data[:, 0]
        if not self.paused:
            lo = int(np.searchsorted(t_all, t_all[-1] - self.window_s))
            data, t_all = data[lo:], t_all[lo:]
        bins = max(200, int(self.glw.width()))
        t = peak_decimate(t_all, bins, time_axis=True)
        for name, curve in self.curves.items():
            curve.setData(t, peak_decimate(data[:, cols.index(name)], bins), connect="finite")
        if self.band_hi is not None and self.band_lo is not None and "pc_setpoint" in cols:
            sp = peak_decimate(data[:, cols.index("pc_setpoint")], bins)
            lo_f = [f for f, _ in self._frac if f is not None and np.isfinite(f)]
            hi_f = [f for _, f in self._frac if f is not None and np.isfinite(f)]
            self.band_hi.setData(t, sp * (min(hi_f) if hi_f else np.nan), connect="finite")
            self.band_lo.setData(t, sp * (max(lo_f) if lo_f else np.nan), connect="finite")
        t = t_all
        if not self.paused:
            t1 = t[-1]
            self.plots["valves"].setXRange(max(t[0], t1 - self.window_s), t1, padding=0.0)
        self.frames += 1

    def _mouse(self, evt: Any) -> None:
        pos = evt[0]
        vb = self.plots["pc"].vb
        if not self.plots["pc"].sceneBoundingRect().contains(pos) or self.model.buffer is None:
            return
        x = vb.mapSceneToView(pos).x()
        self.time_cursor.setPos(x)
        data = self.model.buffer.view()
        if len(data) == 0:
            return
        i = int(np.clip(np.searchsorted(data[:, 0], x), 0, len(data) - 1))
        cols = self.model.columns
        parts = [f"t={data[i, 0]:.3f} s"]
        for name in self.groups.get("pc", [])[:2] + ["pc_setpoint"] + self.groups.get("thrust", [])[:1]:
            if name in cols:
                parts.append(f"{name}={data[i, cols.index(name)]:.3f}")
        self.readout.setText("   ".join(parts))
