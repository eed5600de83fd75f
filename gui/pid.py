"""The stand's P&ID, live: the declared layout of its stand file, or one generated in flow order
(gui/pid_layout.py). Valve bow-ties filled by state and marked when their position disagrees
with their command, lines coloured by fluid, sensor bubbles with live values and units, tanks,
chamber and nozzle. Clickable only in manual mode and only while the stand is SAFE; opening a
propellant valve asks for confirmation first."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (
    QCheckBox,
    QGraphicsEllipseItem,
    QGraphicsPathItem,
    QGraphicsPolygonItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from hil.gui.panel import PanelFrame
from hil.gui.pid_layout import FLUID_COLOURS, Item, layout

ZOOM_STEP = 1.25  # per wheel notch or button press
MAX_ZOOM = 8.0
DISAGREE_PCT = 10.0  # position this far from the command is marked (the valve watch's own tolerance)
CLOSED, OPEN, PART, HOT, GAS = QColor("#9e9e9e"), QColor("#2e7d32"), QColor("#f9a825"), QColor("#ef6c00"), QColor("#1e88e5")


class _Clickable:
    """A symbol that forwards clicks to the view (manual commands)."""

    view: PidView
    name: str

    def mousePressEvent(self, event: Any) -> None:
        self.view.clicked(self.name)


class _Valve(_Clickable, QGraphicsPolygonItem):
    """A bow-tie across the flow (vertical lines: the triangles point up and down), filled by
    state: grey closed, green open, amber part open; a red outline and "!" when its position
    disagrees with its command."""

    def __init__(self, view: PidView, name: str, x: float, y: float) -> None:
        poly = QPolygonF([QPointF(x - 9, y - 13), QPointF(x + 9, y - 13), QPointF(x - 9, y + 13), QPointF(x + 9, y + 13)])
        QGraphicsPolygonItem.__init__(self, poly)
        self.view, self.name = view, name
        self.setPen(QPen(QColor("#212121"), 1.5))
        self.label = QGraphicsSimpleTextItem(name, self)
        self.label.setFont(QFont("sans", 8))
        self.label.setPos(x + 13, y - 14)
        self.value = QGraphicsSimpleTextItem("", self)
        self.value.setFont(QFont("sans", 8, QFont.Weight.Bold))
        self.value.setPos(x + 13, y - 1)


class _Box(_Clickable, QGraphicsRectItem):
    """Tanks, chamber, injector, gas generator, igniter, gas source: a labelled shape."""

    def __init__(self, view: PidView, name: str, rect: QRectF, label: str, rounded: bool = False) -> None:
        QGraphicsRectItem.__init__(self, rect)
        self.view, self.name = view, name
        self.setPen(QPen(QColor("#212121"), 1.5))
        self.label = QGraphicsSimpleTextItem(label, self)
        self.label.setFont(QFont("sans", 8, QFont.Weight.Bold))
        self.label.setPos(rect.left() + 4, rect.top() + 2)
        self.value = QGraphicsSimpleTextItem("", self)
        self.value.setFont(QFont("sans", 8))
        self.value.setPos(rect.left() + 4, rect.top() + 15)


def _opening(name: str, a: dict[str, Any], value: float) -> str:
    """What the confirmation asks, in the operator's terms: which valve, which propellant, how
    far, in the actuator's units ("open ox_iso", not "to 1")."""
    what = f"open {name}" if a["kind"] != "proportional" else f"open {name} to {value:g} {a.get('units') or '%'}"
    return f"{what} ({a['propellant']} propellant valve)?\n\nPropellant will flow if the tank is pressurised."


class PidView(QWidget):
    """Symbols for every actuator, the tanks and the chamber."""

    tab_title = "P&&ID"  # && is a literal & in a tab label
    frame_every = 6

    def __init__(self, send: Callable[..., None], ask: Callable[..., None],
                 number: Callable[..., Any] | None = None) -> None:
        super().__init__()
        self.send = send
        self.ask = ask  # ask(text, then, otherwise): a non-modal confirmation (gui/dialogs.py)
        self.number = number  # number(title, label, value, lo, hi, then): a non-modal value dialog
        self.state = "—"
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        self.manual = QCheckBox("Manual mode (SAFE only; propellant valves ask first)")
        top = QHBoxLayout()
        top.addWidget(self.manual, 1)
        self.zoom = 1.0  # over the fitted view: the wheel and these buttons change it
        for text, factor in (("−", 1 / ZOOM_STEP), ("+", ZOOM_STEP), ("Fit", 0.0)):
            btn = QPushButton(text)
            btn.setMaximumWidth(40)
            btn.setToolTip("zoom the diagram (also the mouse wheel over it)" if factor else "the whole diagram")
            btn.clicked.connect(lambda _=False, f=factor: self.zoom_by(f))
            top.addWidget(btn)
        lay.addLayout(top)
        self.scene = QGraphicsScene(self)
        self.gview = QGraphicsView(self.scene)
        self.gview.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.gview.viewport().installEventFilter(self)
        self.gview.setMinimumHeight(220)
        lay.addWidget(self.gview)
        self.symbols: dict[str, _Valve | _Box] = {}
        self.bubbles: dict[str, tuple[QGraphicsEllipseItem, QGraphicsSimpleTextItem]] = {}
        self.loose: dict[str, QGraphicsSimpleTextItem] = {}
        self.actuators: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.values: dict[str, float] = {}
        self.refusal = ""

    def configure(self, meta: dict[str, Any]) -> None:
        """Draw the stand: its declared P&ID, or one generated in flow order (gui/pid_layout.py)."""
        self.scene.clear()
        self.symbols.clear()
        self.bubbles.clear()
        self.loose.clear()
        self.actuators = {a["name"]: a for a in meta.get("actuators", [])}
        self.channels = {c["name"]: c for c in meta.get("channels", [])}
        lay = layout(meta)
        for fluid, path in lay.lines:  # lines first, under the symbols
            pen = QPen(QColor(FLUID_COLOURS.get(fluid, "#424242")), 3)
            pts = [lay.items[n] for n in path if n in lay.items]
            route = QPainterPath(QPointF(pts[0].x, pts[0].y))
            for a, b in zip(pts, pts[1:]):
                mid = (a.y + b.y) / 2
                route.lineTo(a.x, mid)
                route.lineTo(b.x, mid)
                route.lineTo(b.x, b.y)
            item = QGraphicsPathItem(route)
            item.setPen(pen)
            item.setZValue(-1)
            self.scene.addItem(item)
        for it in lay.items.values():
            self._draw(it)
        x0 = max((i.x for i in lay.items.values()), default=0.0) + 110.0
        if lay.loose_sensors:
            head = self.scene.addSimpleText("sensors")
            head.setFont(QFont("sans", 8, QFont.Weight.Bold))
            head.setPos(x0, 0)
        for k, name in enumerate(lay.loose_sensors):
            t = self.scene.addSimpleText(name)
            t.setFont(QFont("monospace", 8))
            t.setPos(x0, 16 + 14 * k)
            self.loose[name] = t
        self.fit()

    def fit(self) -> None:
        """The whole diagram in view, aspect kept (on configure and when the tab is resized),
        then the operator's zoom over it."""
        rect = self.scene.itemsBoundingRect().adjusted(-10, -10, 10, 10)
        self.gview.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom != 1.0:
            self.gview.scale(self.zoom, self.zoom)

    def zoom_by(self, factor: float) -> None:
        """Zoom in (>1) or out (<1) of the fitted view, within 1x-8x; 0 fits the whole diagram."""
        self.zoom = 1.0 if factor == 0 else min(MAX_ZOOM, max(1.0, self.zoom * factor))
        self.fit()

    def eventFilter(self, obj: Any, event: Any) -> bool:
        """The wheel over the diagram zooms it (there is nothing to scroll at 1x)."""
        if event.type() == QEvent.Type.Wheel:
            self.zoom_by(ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP)
            return True
        return super().eventFilter(obj, event)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.fit()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.fit()

    def _draw(self, it: Item) -> None:
        x, y = it.x, it.y
        if it.kind == "valve" and it.name in self.actuators:
            sym: _Valve | _Box = _Valve(self, it.name, x, y)
        elif it.kind == "sensor":
            bubble = QGraphicsEllipseItem(QRectF(x - 13, y - 13, 26, 26))
            bubble.setPen(QPen(QColor("#212121"), 1.2))
            bubble.setBrush(QBrush(QColor("white")))
            tag = QGraphicsSimpleTextItem("PT", bubble)
            tag.setFont(QFont("sans", 7, QFont.Weight.Bold))
            tag.setPos(x - 7, y - 6)
            text = QGraphicsSimpleTextItem(it.channel, bubble)
            text.setFont(QFont("sans", 8))
            text.setPos(x + 16, y - 7)
            self.scene.addItem(bubble)
            self.bubbles[it.channel] = (bubble, text)
            return
        elif it.kind == "node":
            dot = QGraphicsEllipseItem(QRectF(x - 3, y - 3, 6, 6))
            dot.setBrush(QBrush(QColor(FLUID_COLOURS.get(it.fluid, "#424242"))))
            self.scene.addItem(dot)
            return
        else:
            w, h = {"tank": (64, 44), "chamber": (60, 40), "injector": (80, 12), "gg": (70, 30),
                    "source": (40, 30), "igniter": (60, 24)}.get(it.kind, (60, 30))
            sym = _Box(self, it.name, QRectF(x - w / 2, y - h / 2, w, h), it.label or it.name)
            fill = {"tank": QColor(FLUID_COLOURS.get(it.fluid, "#e0e0e0")).lighter(170), "source": QColor("#eeeeee"),
                    "injector": QColor("#bdbdbd"), "gg": QColor("#ffe0b2")}.get(it.kind, QColor("#eeeeee"))
            sym.setBrush(QBrush(fill))
            if it.kind == "tank":
                sym.setRect(QRectF(x - w / 2, y - h / 2, w, h))
            if it.kind == "chamber":  # and its nozzle below
                nozzle = QGraphicsPolygonItem(QPolygonF([QPointF(x - 12, y + h / 2), QPointF(x + 12, y + h / 2),
                                                         QPointF(x + 26, y + h / 2 + 30), QPointF(x - 26, y + h / 2 + 30)]),
                                              sym)
                nozzle.setPen(QPen(QColor("#212121"), 1.5))
                nozzle.setBrush(QBrush(QColor("#e0e0e0")))
        self.scene.addItem(sym)
        self.symbols[it.name] = sym

    def forget(self) -> None:
        self.values = {}

    def on_event(self, ev: dict[str, Any]) -> None:
        pass

    def on_reply(self, cmd: str, reply: dict[str, Any]) -> None:
        pass

    def show_frame(self, frame: PanelFrame) -> None:
        self.update_values(frame.latest, frame.state, frame.pc_channel, frame.disqualified)

    def update_values(self, latest: dict[str, float], state: str, pc_channel: str = "pc",
                      disqualified: list[str] | tuple[str, ...] = ()) -> None:
        """Fill the symbols from the latest row; a disqualified sensor is marked so, in red."""
        self.state = state
        self.values = latest
        pc = latest.get(pc_channel, math.nan)
        chamber = self.symbols.get("chamber")
        if chamber is not None:
            chamber.value.setText(f"Pc {pc:.2f} MPa" if math.isfinite(pc) else "Pc -")
            chamber.setBrush(QBrush(HOT if pc > 0.5 else QColor("#eeeeee")))
        for name, sym in self.symbols.items():
            a = self.actuators.get(name)
            if a is None:
                continue
            v = latest.get(f"cmd.{name}", math.nan)
            fb = latest.get(a.get("feedback") or "", math.nan)
            lo, hi = a["range"]
            frac = (v - lo) / (hi - lo) if hi > lo and math.isfinite(v) else 0.0
            if a["kind"] == "igniter":
                colour, text = (HOT, "ON") if v > 0 else (CLOSED, "off")
            elif a["kind"] == "purge":
                colour, text = (GAS, "OPEN") if v > 0 else (CLOSED, "closed")
            else:
                colour = CLOSED if frac <= 0 else OPEN if frac >= 0.99 else PART
                text = ("OPEN" if frac >= 0.99 else "closed" if frac <= 0 else f"{v:.0f} {a.get('units') or '%'}")
                if math.isfinite(fb):
                    text += f" (at {fb:.0f} %)"
            disagree = math.isfinite(fb) and abs(100.0 * frac - fb) > DISAGREE_PCT
            sym.setBrush(QBrush(colour))
            sym.setPen(QPen(QColor("#c62828"), 3) if disagree else QPen(QColor("#212121"), 1.5))
            sym.value.setText(("! " if disagree else "") + text)
            sym.value.setBrush(QBrush(QColor("#c62828") if disagree else QColor("#212121")))
        for ch, (_, bubble_text) in self.bubbles.items():
            val = latest.get(ch, math.nan)
            units = self.channels.get(ch, {}).get("units", "")
            bubble_text.setText((f"{ch} {val:.3g} {units}" if math.isfinite(val) else f"{ch} -")
                                + (" DISQUALIFIED" if ch in disqualified else ""))
            bubble_text.setBrush(QBrush(QColor("#c62828") if ch in disqualified else QColor("#212121")))
        for ch, t in self.loose.items():
            val = latest.get(ch, math.nan)
            units = self.channels.get(ch, {}).get("units", "")
            t.setText((f"{ch:<14} {val:9.3g} {units}" if math.isfinite(val) else f"{ch:<14}         - {units}")
                      + ("  DISQUALIFIED" if ch in disqualified else ""))
            t.setBrush(QBrush(QColor("#c62828") if ch in disqualified else QColor("#212121")))
        enabled = self.manual.isChecked() and state == "SAFE"
        for sym in self.symbols.values():
            sym.setCursor(Qt.CursorShape.PointingHandCursor if enabled else Qt.CursorShape.ArrowCursor)

    def clicked(self, name: str) -> None:
        """Manual command from a click: refused here unless manual mode and SAFE (the controller
        refuses too; this only saves a round trip and explains why)."""
        if name not in self.actuators:
            return
        if not self.manual.isChecked():
            self.refusal = "manual mode is off"
            return
        if self.state != "SAFE":
            self.refusal = f"manual outputs only in SAFE (the stand is {self.state})"
            return
        a = self.actuators[name]
        current = self.values.get(f"cmd.{name}", 0.0)
        if a["kind"] == "proportional":
            if self.number is not None:  # the answer comes later: no dialog ever waits in a nested loop
                self.number(name, f"{name} position [%]", current, a["range"][0], a["range"][1],
                            lambda value: self._command(name, value))
            return
        self._command(name, 0.0 if current > 0 else a["range"][1])

    def _command(self, name: str, value: float) -> None:
        """Send a manual value, asking first when it opens a propellant valve (Cancel by default)."""
        a = self.actuators[name]

        def send() -> None:
            self.refusal = ""
            self.send("set", name=name, value=value)

        def refused() -> None:
            self.refusal = "not confirmed"

        if a["propellant"] != "none" and value > 0:
            self.ask(_opening(name, a, value), send, refused)
            return
        send()
