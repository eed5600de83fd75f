"""Channel table: live values, units, redline status colours."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem

from hil.gui.panel import PanelFrame

OK, WARN, BAD = QColor("#e8f5e9"), QColor("#fff8e1"), QColor("#ffcdd2")


class ChannelTable(QTableWidget):
    """One row per channel: value, units, status (ok / near a limit / violating a redline or
    out of range / disqualified) and age: how long ago the value was read — a slow module's
    value is held between its answers, and the operator sees for how long."""

    tab_title = "Channels"
    frame_every = 6

    def __init__(self) -> None:
        super().__init__(0, 5)
        self.setHorizontalHeaderLabels(["channel", "value", "units", "status", "age"])
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.meta: dict[str, Any] = {}
        self.limits: dict[str, tuple[float, float]] = {}

    def configure(self, meta: dict[str, Any]) -> None:
        self.meta = meta
        chans = meta.get("channels", [])
        self.setRowCount(len(chans))
        self.limits = {}
        for rl in meta.get("redlines", []):
            for c in rl["channels"]:
                lo, hi = self.limits.get(c, (-math.inf, math.inf))
                mn = rl.get("min") if rl.get("min") is not None else -math.inf
                mx = rl.get("max") if rl.get("max") is not None else math.inf
                self.limits[c] = (max(lo, mn), min(hi, mx))
        for i, c in enumerate(chans):
            self.setItem(i, 0, QTableWidgetItem(c["name"]))
            self.setItem(i, 1, QTableWidgetItem("-"))
            self.setItem(i, 2, QTableWidgetItem(c["units"]))
            self.setItem(i, 3, QTableWidgetItem(""))
            self.setItem(i, 4, QTableWidgetItem(""))
            self._cell(i, 0).setToolTip(c.get("description", ""))

    def forget(self) -> None:
        for i in range(self.rowCount()):
            self._cell(i, 1).setText("-")
            self._cell(i, 3).setText("")
            self._cell(i, 4).setText("")

    def on_event(self, ev: dict[str, Any]) -> None:
        pass

    def on_reply(self, cmd: str, reply: dict[str, Any]) -> None:
        pass

    def show_frame(self, frame: PanelFrame) -> None:
        self.update_values(frame.latest, list(frame.disqualified), frame.status.get("channel_age"))

    def _cell(self, row: int, col: int) -> QTableWidgetItem:
        item = self.item(row, col)
        assert item is not None, "set_meta fills every cell"
        return item

    def update_values(self, latest: dict[str, float], disqualified: list[str],
                      ages: dict[str, float | None] | None = None) -> None:
        """``ages``: the controller's ``channel_age`` (seconds; None: never read); without it
        (a replay, an older controller) the age column is blank."""
        for i, c in enumerate(self.meta.get("channels", [])):
            v = latest.get(c["name"], math.nan)
            lo_v, hi_v = c["valid"]
            lo_r, hi_r = self.limits.get(c["name"], (-math.inf, math.inf))
            if c["name"] in disqualified:
                status, colour = "disqualified", BAD
            elif not math.isfinite(v):
                status, colour = "no data", WARN
            elif v < lo_v or v > hi_v:
                status, colour = "out of range", BAD
            elif v > hi_r or v < lo_r:
                status, colour = "REDLINE", BAD
            elif (math.isfinite(hi_r) and v > 0.9 * hi_r) or (math.isfinite(lo_r) and v < 1.1 * lo_r):
                status, colour = "near limit", WARN
            else:
                status, colour = "ok", OK
            self._cell(i, 1).setText(f"{v:.4g}" if math.isfinite(v) else "-")
            self._cell(i, 3).setText(status)
            self._cell(i, 4).setText(age_text(ages, c["name"]))
            for col in range(5):
                self._cell(i, col).setBackground(QBrush(colour))


def age_text(ages: dict[str, float | None] | None, name: str) -> str:
    """"12 ms", "1.4 s", "never read"; "" when the controller gave no ages."""
    if ages is None or name not in ages:
        return ""
    age = ages[name]
    if age is None:
        return "never read"
    return f"{age * 1e3:.0f} ms" if age < 1.0 else f"{age:.1f} s"
