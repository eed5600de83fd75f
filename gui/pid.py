"""A P&ID-style view of the stand drawn from its config: tanks, main valves, GG valve, purge,
igniter and the chamber, coloured by state. Clickable only in manual mode and only while the
stand is SAFE; opening a propellant valve asks for confirmation first."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QGraphicsEllipseItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QInputDialog,
    QVBoxLayout,
    QWidget,
)

CLOSED, OPEN, PART, HOT, GAS = QColor("#9e9e9e"), QColor("#2e7d32"), QColor("#f9a825"), QColor("#ef6c00"), QColor("#1e88e5")


class _Symbol(QGraphicsRectItem):
    def __init__(self, view: PidView, name: str, x: float, y: float, w: float = 70, h: float = 34) -> None:
        super().__init__(QRectF(x, y, w, h))
        self.view, self.name = view, name
        self.setPen(QPen(QColor("#212121"), 1.5))
        self.label = QGraphicsSimpleTextItem(name, self)
        self.label.setFont(QFont("sans", 8))
        self.label.setPos(x + 3, y + 2)
        self.value = QGraphicsSimpleTextItem("", self)
        self.value.setFont(QFont("sans", 8, QFont.Weight.Bold))
        self.value.setPos(x + 3, y + 17)

    def mousePressEvent(self, event: Any) -> None:
        self.view.clicked(self.name)


def _opening(name: str, a: dict[str, Any], value: float) -> str:
    """What the confirmation asks, in the operator's terms: which valve, which propellant, how
    far, in the actuator's units ("open ox_iso", not "to 1")."""
    what = f"open {name}" if a["kind"] != "proportional" else f"open {name} to {value:g} {a.get('units') or '%'}"
    return f"{what} ({a['propellant']} propellant valve)?\n\nPropellant will flow if the tank is pressurised."


class PidView(QWidget):
    """Symbols for every actuator, the tanks and the chamber."""

    def __init__(self, send: Callable[..., None], confirm: Callable[[str], bool]) -> None:
        super().__init__()
        self.send = send
        self.confirm = confirm
        self.state = "—"
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        self.manual = QCheckBox("Manual mode (SAFE only; propellant valves ask first)")
        lay.addWidget(self.manual)
        self.scene = QGraphicsScene(self)
        self.gview = QGraphicsView(self.scene)
        self.gview.setMinimumHeight(220)
        lay.addWidget(self.gview)
        self.symbols: dict[str, _Symbol] = {}
        self.actuators: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.values: dict[str, float] = {}
        self.refusal = ""

    def configure(self, meta: dict[str, Any]) -> None:
        self.scene.clear()
        self.symbols.clear()
        self.actuators = {a["name"]: a for a in meta.get("actuators", [])}
        self.channels = {c["name"]: c for c in meta.get("channels", [])}
        cols = {"ox": 0, "fuel": 1, "none": 2}
        counts = [0, 0, 0]
        pen = QPen(QColor("#424242"), 2)
        for i, (title, colour) in enumerate((("LOX", "#bbdefb"), ("CH4", "#ffe0b2"))):
            tank = QGraphicsEllipseItem(QRectF(20 + i * 120, 0, 80, 50))
            tank.setBrush(QBrush(QColor(colour)))
            tank.setPen(pen)
            self.scene.addItem(tank)
            t = QGraphicsSimpleTextItem(title, tank)
            t.setPos(45 + i * 120, 15)
        for name, a in self.actuators.items():
            c = 2 if a["kind"] in ("igniter", "purge") or a["propellant"] == "none" else cols[a["propellant"]]
            if a["name"] == "gg" or a.get("kind") == "proportional" and "gg" in name:
                c = 2
            y = 80 + counts[c] * 50
            counts[c] += 1
            sym = _Symbol(self, name, 25 + c * 120, y)
            self.scene.addItem(sym)
            self.symbols[name] = sym
            if c < 2:
                self.scene.addLine(60 + c * 120, 50, 60 + c * 120, y, pen)
        chamber = _Symbol(self, "chamber", 85, 80 + max(counts[:2]) * 50 + 20, 90, 44)
        chamber.setBrush(QBrush(QColor("#eeeeee")))
        self.scene.addItem(chamber)
        self.symbols["chamber"] = chamber
        for c in (0, 1):
            self.scene.addLine(60 + c * 120, 80 + counts[c] * 50 - 16, 130, chamber.rect().top(), pen)

    def update_values(self, latest: dict[str, float], state: str, pc_channel: str = "pc") -> None:
        self.state = state
        self.values = latest
        for name, sym in self.symbols.items():
            if name == "chamber":
                pc = latest.get(pc_channel, math.nan)
                sym.value.setText(f"Pc {pc:.2f} MPa" if math.isfinite(pc) else "Pc -")
                sym.setBrush(QBrush(HOT if pc > 0.5 else QColor("#eeeeee")))
                continue
            a = self.actuators[name]
            v = latest.get(f"cmd.{name}", math.nan)
            fb = latest.get(a.get("feedback") or "", math.nan)
            if a["kind"] == "igniter":
                colour, text = (HOT, "ON") if v > 0 else (CLOSED, "off")
            elif a["kind"] == "purge":
                colour, text = (GAS, "ON") if v > 0 else (CLOSED, "off")
            elif a["kind"] == "valve":
                colour, text = (OPEN, "OPEN") if v > 0 else (CLOSED, "closed")
            else:
                lo, hi = a["range"]
                frac = (v - lo) / (hi - lo) if hi > lo and math.isfinite(v) else 0.0
                colour = CLOSED if frac <= 0 else OPEN if frac >= 0.99 else PART
                text = f"cmd {v:.0f}%" + (f" pos {fb:.0f}%" if math.isfinite(fb) else "")
            sym.setBrush(QBrush(colour))
            sym.value.setText(text)
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
            value, ok = QInputDialog.getDouble(self, name, f"{name} position [%]", current, a["range"][0], a["range"][1], 1)
            if not ok:
                return
        else:
            value = 0.0 if current > 0 else a["range"][1]
        if a["propellant"] != "none" and value > 0 and not self.confirm(_opening(name, a, value)):
            self.refusal = "not confirmed"
            return
        self.refusal = ""
        self.send("set", name=name, value=value)
