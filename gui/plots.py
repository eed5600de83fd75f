"""Live plots: chamber pressure measured vs commanded with the redline band, thrust, feed and
injector pressures, valve commands vs positions. A rolling window (60 s by default) that
follows the newest data unless paused; zoom and pan with the mouse; a cursor readout.

Kept smooth at 1 kHz with many curves by decimating each curve to min/max per pixel column
before it reaches pyqtgraph (kept from frame to frame: gui/decimate.py), clip-to-view, pen width
1 (reference/toolchain.md: wider pens cost ~10×) and no grid (drawn through the axes, it cost
~17 ms per axis per frame in software raster). A frame with no new rows redraws nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from hil.files import write_json_atomic
from hil.gui.axis_title import TitledAxis
from hil.gui.decimate import PeakCache, peak_decimate
from hil.gui.dialogs import DialogDesk
from hil.gui.model import ConsoleModel
from hil.gui.plot_dialog import PlotLayoutDialog
from hil.gui.plot_units import fixed_range, legend_name, pickable, plot_units, units_of
from hil.gui.taxis import TAxis, TMarks

SCROLL_STEP = 1 / 30  # of the window: the live time axis moves in 2 s steps on a 60 s window

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


DEFAULT_TITLES = {"thrust": "Thrust [kN]", "pressures": "Feed / injector [MPa]",
                  "valves": "Valves: command vs position [%]"}


def default_specs(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The plots below chamber pressure as the stand file declares them (``plot`` per channel)."""
    groups = classify(meta) if meta else {}
    return [{"key": k, "title": t, "channels": groups.get(k, [])} for k, t in DEFAULT_TITLES.items()]


def layout_path(stand: str) -> Path:
    """Where an operator's plot layout for a stand is kept (``HIL_CONFIG_DIR``, else the XDG
    config directory)."""
    base = os.environ.get("HIL_CONFIG_DIR") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "hil-stand")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stand)
    return Path(base) / "plots" / f"{safe}.json"


def save_layout(stand: str, specs: list[dict[str, Any]]) -> Path:
    path = layout_path(stand)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"stand": stand, "plots": specs})
    return path


def load_layout(stand: str) -> list[dict[str, Any]] | None:
    """The saved layout, or None (none saved, or unreadable: the stand file's plots then)."""
    try:
        data = json.loads(layout_path(stand).read_text())
        return _keyed([{"key": sp.get("key"), "title": str(sp["title"]), "channels": [str(c) for c in sp["channels"]]}
                       for sp in data["plots"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _keyed(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Plots with unique keys ("pc" is the chamber-pressure plot's)."""
    out: list[dict[str, Any]] = []
    for i, sp in enumerate(specs):
        key = str(sp.get("key") or "")
        if not key or key == "pc" or any(o["key"] == key for o in out):
            key = f"plot{i}"
        out.append({"key": key, "title": str(sp["title"]), "channels": list(sp["channels"])})
    return out


def _set(curve: pg.PlotDataItem, x: np.ndarray, y: np.ndarray) -> None:
    """New data for a curve. pyqtgraph draws a curve with gaps (NaN: a lost device, a column
    with no rows) by splitting it in Python, ~30x slower than one path: say which case it is."""
    if np.isfinite(y).all():
        curve.setData(x, y, connect="all", skipFiniteCheck=True)
    elif np.isnan(y).all():
        curve.setData([], [])
    else:
        curve.setData(x, y, connect="finite")


MIN_PLOT_PX = 95  # the least height of one plot (four fit a 1280x720 window; a fifth scrolls)


class PlotPanel(QWidget):
    """Four stacked plots sharing the time axis."""

    def __init__(self, model: ConsoleModel, window_s: float = 60.0) -> None:
        super().__init__()
        self.model = model
        self.window_s = window_s
        self.paused = False
        self.frames = 0
        self.desk: DialogDesk | None = None  # the window's (gui/dialogs.py): Plots… is never modal
        self.dialog: PlotLayoutDialog | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        top = QHBoxLayout()
        self.pause_box = QCheckBox("Pause (zoom/pan freely)")
        self.pause_box.toggled.connect(self._pause)
        self.readout = QLabel("")
        self.readout.setObjectName("cursorReadout")
        top.addWidget(self.pause_box)
        self.layout_btn = QPushButton("Plots…")
        self.layout_btn.setToolTip("add, remove and fill the plots; kept for this stand")
        self.layout_btn.clicked.connect(self.arrange)
        top.addWidget(self.layout_btn)
        top.addStretch(1)
        top.addWidget(self.readout)
        lay.addLayout(top)
        self.glw = pg.GraphicsLayoutWidget()  # each plot keeps MIN_PLOT_PX: a fifth scrolls, Pc is not squeezed
        self.plot_scroll = QScrollArea()
        self.plot_scroll.setWidgetResizable(True)
        self.plot_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.plot_scroll.setWidget(self.glw)
        lay.addWidget(self.plot_scroll, 1)
        self.plots: dict[str, pg.PlotItem] = {}
        self.specs: list[dict[str, Any]] = default_specs({})
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.band_hi: pg.PlotDataItem | None = None
        self.band_lo: pg.PlotDataItem | None = None
        self.limit_lines: list[pg.InfiniteLine] = []
        self.time_cursor: pg.InfiniteLine | None = None
        self._proxy = pg.SignalProxy(self.glw.scene().sigMouseMoved, rateLimit=30, slot=self._mouse)
        self.groups: dict[str, list[str]] = {}
        self._cache: PeakCache | None = None
        self._rows_drawn = -1
        self.on_mouse: Callable[[], None] = lambda: None  # the window's "operator is here"
        self._plot_of: dict[pg.PlotCurveItem, str] = {}
        self._xrange = (0.0, -1.0)  # the time span shown (empty until the first frame)
        self._yrange: dict[str, tuple[float, float]] = {}
        self._series: list[tuple[pg.PlotCurveItem, str]] = []  # (curve, the column it draws)
        self._fixed: dict[str, tuple[float, float]] = {}  # plot key -> the range it always shows
        self._shown: np.ndarray | None = None  # a replay's window (live: the model's buffer)
        self._build(self.specs)

    def _build(self, specs: list[dict[str, Any]]) -> None:
        """The plots, top to bottom: chamber pressure (always first: command line, redline band)
        and the operator's (or the stand file's) plots, sharing the time axis."""
        self.glw.clear()
        self.plots = {}
        rows = [("pc", "Chamber pressure [MPa]")] + [(sp["key"], sp["title"]) for sp in specs]
        prev = None
        axis = TAxis("bottom")  # the one time axis shown, under the last plot: T-time
        for i, (key, title) in enumerate(rows):
            items = {"left": TitledAxis(title)} | ({"bottom": axis} if i == len(rows) - 1 else {})
            p = self.glw.addPlot(row=i, col=0, axisItems=items)  # the title fits the plot (axis_title.py)
            # no grid: pyqtgraph draws it through the axis items, which costs ~17 ms per axis per
            # frame in software raster (measured: it took the frame rate from 60 to 2 fps)
            for side in ("left", "bottom"):
                p.getAxis(side).enableAutoSIPrefix(False)  # 0.6 MPa reads 0.6, not "600 (x0.001)"
            p.addLegend(offset=(8, 4), labelTextSize="8pt")  # top left: the newest data is on the right
            p.disableAutoRange()  # ranges are set from the decimated data (_fit_y) and the window
            if prev is not None:
                p.setXLink(prev)
            prev = p
            self.plots[key] = p
        self.glw.setMinimumHeight(len(rows) * MIN_PLOT_PX + 40)  # + the time axis
        last = rows[-1][0]
        self.plots[last].setLabel("bottom", "time [s]")
        for key, _ in rows[:-1]:
            self.plots[key].hideAxis("bottom")  # linked x: one time axis is enough, and ticks cost per frame
        # a new cursor each time: clearing the layout deleted the old one with its plot
        self.time_cursor = pg.InfiniteLine(angle=90, movable=False,
                                           pen=pg.mkPen("#888", style=pg.QtCore.Qt.PenStyle.DashLine))
        self.plots["pc"].addItem(self.time_cursor, ignoreBounds=True)
        self.marks = TMarks(self.plots, axis)

    def arrange(self) -> None:
        """The operator's layout dialog (gui/plot_dialog.py)."""
        columns = pickable(self.model.columns)
        if self.desk is None:
            return
        dialog = PlotLayoutDialog(self.desk.host, self.specs, columns, self.desk.parent)
        dialog.accepted.connect(lambda: self.set_layout(dialog.specs))  # non-modal: the answer comes later
        self.desk.show(dialog)
        self.dialog = dialog

    def set_layout(self, specs: list[dict[str, Any]]) -> None:
        """The operator's plots (title and channels each; chamber pressure stays first), kept
        for this stand and used from now on (live and replay)."""
        self.specs = _keyed(specs)
        stand = self.model.meta.get("stand")
        if stand:
            save_layout(stand, self.specs)
        self.configure()

    def configure(self) -> None:
        """Build the plots and curves for the model's columns (a new controller or run): the
        layout saved for this stand if there is one, else the stand file's plot declarations."""
        self.limit_lines = []
        self.curves.clear()
        self._series = []
        self._plot_of.clear()
        self._yrange.clear()
        self._xrange = (0.0, -1.0)
        self._cache = None
        self._rows_drawn = -1
        self._shown = None
        meta = self.model.meta
        self.groups = classify(meta)
        saved = load_layout(meta.get("stand", "")) if meta.get("stand") else None
        self.specs = saved if saved is not None else default_specs(meta)
        self._build(self.specs)
        wanted = [("pc", self.groups.get("pc", []))] + [(sp["key"], sp["channels"]) for sp in self.specs]
        units = units_of(meta)
        self._fixed = {}
        for key, names in wanted:
            mixed = len(plot_units(names, units)) > 1
            if (rng := fixed_range(names, units)) is not None:
                self._fixed[key] = rng
            for i, name in enumerate(names):
                if name not in self.model.columns:
                    continue
                # commands dashed; in the Pc plot the redundant transducers dashed too, under the first
                dashed = name.startswith("cmd.") or (key == "pc" and i > 0)
                style = pg.QtCore.Qt.PenStyle.DashLine if dashed else pg.QtCore.Qt.PenStyle.SolidLine
                pen = pg.mkPen(PALETTE[i % len(PALETTE)], width=2 if key == "pc" and i == 0 else 1, style=style)
                curve = self._curve(key, legend_name(name, units, mixed), pen)
                curve.setZValue(len(names) - i)  # the first channel drawn on top
                self.curves.setdefault(name, curve)
                self._series.append((curve, name))
        if "pc_setpoint" in self.model.columns:
            self.curves["pc_setpoint"] = self._curve("pc", "commanded Pc", pg.mkPen("#000", width=1))
            self._series.append((self.curves["pc_setpoint"], "pc_setpoint"))
            band = pg.mkPen("#d62728", width=1, style=pg.QtCore.Qt.PenStyle.DotLine)
            self.band_hi = self._curve("pc", "redline band", band)
            self.band_lo = self._curve("pc", None, band)
        for p in self.plots.values():  # legends in columns of at most three rows: they fit a 1280x720 window
            if p.legend is not None:
                p.legend.setColumnCount(max(1, -(-len(p.legend.items) // 3)))
        pcs = set(self.groups.get("pc", []))
        for rl in meta.get("redlines", []):
            if set(rl["channels"]) & pcs and rl.get("max") not in (None, float("inf")) and np.isfinite(rl["max"]):
                line = pg.InfiniteLine(pos=rl["max"], angle=0, pen=pg.mkPen("#d62728", width=1),
                                       label=rl["name"], labelOpts={"position": 0.92, "color": "#d62728"})
                # (at the right end: the legend sits top left and covered it there)
                self.plots["pc"].addItem(line)
                self.limit_lines.append(line)
        self._frac = [(r.get("min_frac"), r.get("max_frac")) for r in meta.get("redlines", []) if set(r["channels"]) & pcs]

    def _curve(self, plot: str, name: str | None, pen: Any) -> pg.PlotCurveItem:
        """A bare curve: the data arrive decimated and windowed, so PlotDataItem's own
        clipping, downsampling and per-frame bounds would be work done twice."""
        curve = pg.PlotCurveItem(pen=pen, name=name)
        self.plots[plot].addItem(curve)
        self._plot_of[curve] = plot
        return curve

    def _pause(self, on: bool) -> None:
        self.paused = on
        if on:  # zoom and pan freely; the live view sets its own ranges again when resumed
            return
        self._yrange.clear()

    def _scroll(self, t0: float, t1: float) -> None:
        """Keep the newest data in view, moving the time axis in steps of ``SCROLL_STEP`` of the
        window rather than every frame: the time axis's ticks and labels are laid out again on
        every move (~2.5 ms a frame in software raster), and a strip chart that jumps a little
        every two seconds reads as well as one that crawls."""
        lo, hi = self._xrange
        if lo <= t1 <= hi:
            return
        step = SCROLL_STEP * self.window_s
        left = t0 if t1 - t0 < self.window_s - step else t1 + step - self.window_s
        self._xrange = (left, left + self.window_s)
        self.plots["pc"].setXRange(*self._xrange, padding=0.0)  # the others are linked to it

    def _fit_y(self) -> None:
        """Each plot's y range from its curves' decimated data, moved only when the data leave
        it or fill less than a third of it: pyqtgraph's auto-range re-measured every curve and
        re-laid the axis on every frame."""
        spans: dict[str, list[float]] = {}
        for curve, key in self._plot_of.items():
            y = curve.yData
            if y is None or not len(y):
                continue
            finite = y[np.isfinite(y)]
            if not len(finite):
                continue
            lo, hi = float(finite.min()), float(finite.max())
            cur = spans.setdefault(key, [lo, hi])
            cur[0], cur[1] = min(cur[0], lo), max(cur[1], hi)
        for key, (lo, hi) in spans.items():
            if key == "pc":
                for line in self.limit_lines:
                    hi = max(hi, float(line.value()))
            if key in self._fixed:  # percentages: never less than 0-100 %
                lo, hi = min(lo, self._fixed[key][0]), max(hi, self._fixed[key][1])
            have = self._yrange.get(key)
            span = max(hi - lo, 1e-3 * max(abs(hi), 1.0))
            if have is not None and have[0] <= lo and hi <= have[1] and (have[1] - have[0]) <= 3 * span:
                continue
            pad = 0.08 * span
            self._yrange[key] = (lo - pad, hi + pad)
            self.plots[key].setYRange(lo - pad, hi + pad, padding=0.0)

    def refresh(self, data: np.ndarray | None = None) -> None:
        """Redraw from the model's buffer (or from ``data``, e.g. a replay window)."""
        if data is None:
            if self.model.buffer is None or self.paused:
                return
            if self.model.rows_received == self._rows_drawn:
                return  # nothing new: what is on screen is still right
            self._rows_drawn = self.model.rows_received
            data = self.model.buffer.view()
            self._refresh_live(data)
        else:
            self._shown = data
            self._refresh_all(data)
        if len(data):
            self.marks.update(self.model.clock, float(data[-1, 0]))
        self.frames += 1

    def _bins(self) -> int:
        """Columns of min/max: one per two pixels of plot width. Every extreme still shows (a
        column's min and max are both drawn); half the points halve the path the software
        rasteriser strokes, the largest part of a frame."""
        return max(200, (int(self.plots["pc"].vb.width()) or int(self.glw.width())) // 2)

    def _refresh_live(self, data: np.ndarray) -> None:
        """The rolling window, from the decimation kept since the last frame."""
        if len(data) == 0:
            return
        cols = self.model.columns
        names = list(dict.fromkeys(n for _, n in self._series if n in cols))  # each column decimated once
        idx = [cols.index(n) for n in names]
        pos = {n: j for j, n in enumerate(names)}
        bins = self._bins()
        cache = self._cache
        if cache is None or cache.bins != bins or cache.columns.tolist() != idx or cache.window_s != self.window_s:
            cache = self._cache = PeakCache(idx, self.window_s, bins)
        x, y = cache.update(data)
        for curve, name in self._series:
            if name in pos:
                _set(curve, x, y[:, pos[name]])
        if "pc_setpoint" in pos:
            self._band(x, y[:, pos["pc_setpoint"]])
        self._scroll(float(data[0, 0]), float(data[-1, 0]))
        self._fit_y()

    def _refresh_all(self, data: np.ndarray) -> None:
        """A given window (a replay): decimated from scratch."""
        if len(data) == 0:
            return
        cols = self.model.columns
        t_all = data[:, 0]
        if not self.paused:
            lo = int(np.searchsorted(t_all, t_all[-1] - self.window_s))
            data, t_all = data[lo:], t_all[lo:]
        bins = self._bins()
        t = peak_decimate(t_all, bins, time_axis=True)
        for curve, name in self._series:
            if name in cols:
                curve.setData(t, peak_decimate(data[:, cols.index(name)], bins), connect="finite")
        if self.band_hi is not None and "pc_setpoint" in cols:
            self._band(t, peak_decimate(data[:, cols.index("pc_setpoint")], bins))
        if not self.paused:
            t1 = t_all[-1]
            self.plots["pc"].setXRange(max(t_all[0], t1 - self.window_s), t1, padding=0.0)  # the others are linked
            self._fit_y()

    def _band(self, t: np.ndarray, sp: np.ndarray) -> None:
        """The relative redline band around the commanded Pc."""
        if self.band_hi is None or self.band_lo is None:
            return
        lo_f = [f for f, _ in self._frac if f is not None and np.isfinite(f)]
        hi_f = [f for _, f in self._frac if f is not None and np.isfinite(f)]
        _set(self.band_hi, t, sp * (min(hi_f) if hi_f else np.nan))
        _set(self.band_lo, t, sp * (max(lo_f) if lo_f else np.nan))

    def _mouse(self, evt: Any) -> None:
        self.on_mouse()
        pos = evt[0]
        vb = self.plots["pc"].vb
        if not self.plots["pc"].sceneBoundingRect().contains(pos) or self.model.buffer is None:
            return
        x = vb.mapSceneToView(pos).x()
        if self.time_cursor is not None:
            self.time_cursor.setPos(x)
        data = self._shown if self._shown is not None else self.model.buffer.view()  # a replay's window, or live
        if len(data) == 0:
            return
        i = int(np.clip(np.searchsorted(data[:, 0], x), 0, len(data) - 1))
        cols = self.model.columns
        t_seq = data[i, cols.index("t_seq")] if "t_seq" in cols else np.nan
        units = {c["name"]: c.get("units", "") for c in self.model.meta.get("channels", [])}
        units["pc_setpoint"] = units.get(self.model.meta.get("pc_channel", ""), "")
        parts = [self.model.clock.label(float(data[i, 0]), float(t_seq))]
        for name in self.groups.get("pc", [])[:2] + ["pc_setpoint"] + self.groups.get("thrust", [])[:1]:
            if name in cols:
                parts.append(f"{name}={data[i, cols.index(name)]:.3f} {units.get(name, '')}".rstrip())
        self.readout.setText("   ".join(parts))
