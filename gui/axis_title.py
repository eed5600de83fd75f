"""A plot's left-axis title that fits its plot. pyqtgraph draws an axis title at its full length
whatever the axis height, so at the console's least plot height (95 px) "Valves: command vs
position [%]" ran into the plots above and below. Here the title is shortened to the height it
has — its unit kept, the words before it elided — and the whole title stays in its tooltip."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetricsF

MARGIN_PX = 6.0  # kept clear at each end of the axis


def fit_title(title: str, metrics: QFontMetricsF, room_px: float) -> str:
    """``title`` if it fits ``room_px``; else its words elided and its ``[unit]`` kept
    ("Valves: comm… [%]"); else elided whole. Never longer than the room (an empty string
    when not even "…" fits)."""
    if metrics.horizontalAdvance(title) <= room_px:
        return title
    head, sep, unit = title.rpartition(" [")
    if sep and unit.endswith("]"):
        tail = f" [{unit}"
        left = room_px - metrics.horizontalAdvance(tail)
        if left > metrics.horizontalAdvance("…") * 3:
            return metrics.elidedText(head, Qt.TextElideMode.ElideRight, left) + tail
    short = metrics.elidedText(title, Qt.TextElideMode.ElideRight, room_px)
    return short if metrics.horizontalAdvance(short) <= room_px else ""


class TitledAxis(pg.AxisItem):
    """A left axis whose title is refitted to the axis height at every resize."""

    def __init__(self, title: str) -> None:
        super().__init__("left")
        self.title = title
        self.shown = title
        self.setToolTip(title)
        self.setLabel(title)

    def resizeEvent(self, ev: Any = None) -> None:
        if self.label is not None and hasattr(self, "title"):  # (pyqtgraph resizes it while it is built)
            room = self.size().height() - 2 * MARGIN_PX
            text = fit_title(self.title, QFontMetricsF(self.label.font()), room)
            if text != self.shown:
                self.shown = text
                self.labelText = text
                self.label.setHtml(self.labelString())
        super().resizeEvent(ev)
