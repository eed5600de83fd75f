"""The console's event log: what happened, when in the sequence (T-time) and on the clock on the
wall, at a severity an operator can filter on; repeats of the noisy kinds (a flapping link,
a loop that degrades and recovers) folded into one line that counts them."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from hil.gui.panel import PanelFrame

ERROR = {"redline", "fault", "abort", "firmware_trip", "device_lost", "exception", "redline_outside_run"}
WARNING = {"refused", "sensor_disqualified", "comm_error", "warning", "loop_degraded", "device_stale",
           "prompt_timeout", "throttle_released"}
# kinds that come in bursts when a link flaps or the machine is busy: consecutive ones fold
FOLD = {"loop_degraded", "loop_restored", "comm_error", "device_stale", "device_fresh", "device_restored"}
# a sensor flapping at its valid-range edge on an idle stand: folded too, but only outside a
# running sequence (events then carry no T-time); during a run each one stands on its own line
SENSOR_FLAP = {"sensor_disqualified", "sensor_requalified"}
_RANK = {"info": 0, "warning": 1, "error": 2}
LEVELS = ("all", "warnings and errors", "errors only")
COLOURS = {"error": "#c62828", "warning": "#ef6c00", "state": "#1565c0", "prompt": "#ef6c00"}


def severity(kind: str) -> str:
    """error | warning | info."""
    return "error" if kind in ERROR else "warning" if kind in WARNING else "info"


class EventLog(QWidget):
    """The Events tab: newest at the bottom, filterable, repeats folded."""

    tab_title = "Events"
    frame_every = 6

    def __init__(self) -> None:
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        row = QHBoxLayout()
        row.addWidget(QLabel("show:"))
        self.level = QComboBox()
        self.level.addItems(LEVELS)
        self.level.currentIndexChanged.connect(self._refilter)
        row.addWidget(self.level)
        row.addStretch(1)
        lay.addLayout(row)
        self.list = QListWidget()
        lay.addWidget(self.list, 1)
        self._fold: dict[str, Any] | None = None  # the open fold: its item, counts, first and last time

    # ------------------------------------------------------------------ as a console panel

    def configure(self, meta: dict[str, Any]) -> None:
        pass

    def forget(self) -> None:
        self.clear()

    def on_event(self, ev: dict[str, Any]) -> None:
        self.add(ev)

    def on_reply(self, cmd: str, reply: dict[str, Any]) -> None:
        pass

    def show_frame(self, frame: PanelFrame) -> None:
        pass

    # ------------------------------------------------------------------ adding

    def add(self, ev: dict[str, Any]) -> None:
        kind = str(ev.get("kind", "?"))
        folds = kind in FOLD or (kind in SENSOR_FLAP and ev.get("t_seq") is None)
        if folds and self._fold is not None:
            f = self._fold
            f["counts"][kind] = f["counts"].get(kind, 0) + 1
            f["last"] = ev
            if ev.get("channel"):
                f["channels"].add(str(ev["channel"]))
            item = f["item"]
            item.setText(self._fold_text())
            if _RANK[severity(kind)] > _RANK[str(item.data(256))]:  # a fold is as severe as its worst
                item.setData(256, severity(kind))
                item.setForeground(QBrush(QColor(COLOURS[severity(kind)])))
                item.setHidden(not self._shown(severity(kind)))
            return
        item = QListWidgetItem()
        sev = severity(kind)
        item.setData(256, sev)  # Qt.UserRole: the filter reads it
        if folds:
            self._fold = {"item": item, "counts": {kind: 1}, "first": ev, "last": ev,
                          "channels": {str(ev["channel"])} if ev.get("channel") else set()}
            item.setText(self._fold_text())
        else:
            self._fold = None
            item.setText(self._text(ev))
        colour = COLOURS.get(sev) or COLOURS.get(kind)
        if colour:
            item.setForeground(QBrush(QColor(colour)))
        self.list.addItem(item)
        item.setHidden(not self._shown(sev))
        if self.list.count() > 5000:
            self.list.takeItem(0)
        self.list.scrollToBottom()

    @staticmethod
    def _when(ev: dict[str, Any]) -> str:
        """T-time when the event happened during a sequence, and the wall clock (UTC)."""
        t_seq = ev.get("t_seq")
        tt = f"T{t_seq:+8.2f}" if isinstance(t_seq, (int, float)) else " " * 9
        wall = ev.get("wall") or time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        return f"{tt}  {str(wall)[11:19]}"

    def _text(self, ev: dict[str, Any]) -> str:
        kind = ev.get("kind", "?")
        if kind == "step":
            what = f"step {ev.get('index')}: {ev.get('what')}  (line {ev.get('line')})"
        else:
            fields = ", ".join(f"{k}={v}" for k, v in ev.items() if k not in ("t", "kind", "wall", "t_seq"))
            what = f"{kind}: {fields}"
        return f"{self._when(ev)}  {what}"

    def _fold_text(self) -> str:
        f = self._fold
        assert f is not None
        counts = ", ".join(f"{k} ×{n}" for k, n in f["counts"].items())
        last = f["last"]
        detail = last.get("error") or last.get("device") or ", ".join(sorted(f["channels"]))
        n = sum(f["counts"].values())
        span = f" until {self._when(last).strip()}" if n > 1 else ""
        return f"{self._when(f['first'])}  {counts}{span}" + (f"  (last: {detail})" if detail else "")

    # ------------------------------------------------------------------ filtering

    def _shown(self, sev: str) -> bool:
        level = self.level.currentIndex()
        return level == 0 or (level == 1 and sev != "info") or (level == 2 and sev == "error")

    def _refilter(self) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            item.setHidden(not self._shown(str(item.data(256))))

    def clear(self) -> None:
        """Forget every line (a replay opened)."""
        self.list.clear()
        self._fold = None

    def texts(self) -> list[str]:
        """Every line, shown or filtered out."""
        return [self.list.item(i).text() for i in range(self.list.count())]
