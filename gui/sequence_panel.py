"""Sequence panel: open a sequence file, see the controller's check result with line numbers,
and follow the timeline with the current step highlighted."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from hil.gui.panel import PanelFrame


class SequencePanel(QWidget):
    """Shows what the controller said about the loaded sequence."""

    tab_title = "Sequence"
    frame_every = 1  # the running step's highlight follows the status at the console's rate

    def __init__(self, send, open_file=None) -> None:  # noqa: ANN001 - callables, see below
        super().__init__()
        self.send = send  # send(cmd, **args)
        self.open_file = open_file  # open_file(title, start_dir, pattern, then): non-modal (gui/dialogs.py)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        self.open_btn = QPushButton("Open sequence…")
        self.open_btn.clicked.connect(self.choose)
        self.title = QLabel("no sequence loaded")
        self.title.setWordWrap(True)
        self.check = QLabel("")
        self.check.setObjectName("checkResult")
        self.check.setWordWrap(True)
        self.timeline = QListWidget()
        for w in (self.open_btn, self.title, self.check):
            lay.addWidget(w)
        lay.addWidget(self.timeline, 1)
        self.steps: list[dict[str, Any]] = []
        self.loaded = ""  # the name of the sequence the controller has loaded
        self.sha256 = ""  # ... and its digest (the status names it: a change means a new timeline)
        self.current = -1
        self.start_dir = "configs/sequences"

    def choose(self) -> None:
        if self.open_file is not None:
            self.open_file("Open sequence", self.start_dir, "Sequences (*.toml)", self.load)

    def load(self, path: str) -> None:
        self.title.setText(f"checking {path} …")
        self.send("load", path=path)

    # ------------------------------------------------------------------ as a console panel

    def configure(self, meta: dict[str, Any]) -> None:
        pass  # the timeline comes with the controller's answer to ``load`` / ``sequence``

    def forget(self) -> None:
        self.steps, self.loaded, self.sha256 = [], "", ""
        self.timeline.clear()
        self.current = -1

    def on_event(self, ev: dict[str, Any]) -> None:
        pass

    def on_reply(self, cmd: str, reply: dict[str, Any]) -> None:
        if cmd == "load" or (cmd == "sequence" and reply.get("ok")):
            self.show_sequence(reply)

    def show_frame(self, frame: PanelFrame) -> None:
        self.highlight(frame.step)

    # ------------------------------------------------------------------ the timeline

    def show_sequence(self, reply: dict[str, Any]) -> None:
        """The controller's answer to ``load`` (or a recorded run's timeline). A refused load changes nothing on the
        controller, so nothing changes here either but the message: the sequence already
        loaded stays, with its timeline, and says so."""
        if reply.get("ok"):
            self.timeline.clear()
            self.current = -1
            self.steps = reply.get("steps", [])
            self.loaded = reply.get("name", "")
            self.sha256 = reply.get("sha256", "")
            self.title.setText(self.loaded)
            self.check.setText(f"✔ check passed: {len(self.steps)} steps")
            self.check.setStyleSheet("color: #2e7d32; font-weight: bold;")
            for s in self.steps:
                label = f"  — {s['label']}" if s.get("label") else ""
                self.timeline.addItem(QListWidgetItem(f"T{s['at']:+8.2f}  {s['what']}{label}   (line {s['line']})"))
            return
        errors = reply.get("errors") or [reply.get("refused", "refused")]
        self.title.setText(self.loaded or "sequence not loaded")
        kept = f"\n(not loaded: {self.loaded!r} stays loaded)" if self.loaded else ""
        self.check.setText("✘ " + "\n✘ ".join(errors) + kept)
        self.check.setStyleSheet("color: #c62828;")

    def highlight(self, index: int) -> None:
        if index == self.current or not (0 <= index < self.timeline.count()):
            return
        if 0 <= self.current < self.timeline.count():
            self.timeline.item(self.current).setBackground(QBrush(QColor("white")))
        self.current = index
        item = self.timeline.item(index)
        item.setBackground(QBrush(QColor("#bbdefb")))
        self.timeline.scrollToItem(item)

    def next_prompt(self, index: int, t_seq: float | None) -> str:
        """The next GO/NO-GO poll after step ``index`` of the running sequence, and how far
        ahead it is on the sequence clock ("" when there is none or nothing runs)."""
        if not isinstance(t_seq, (int, float)):
            return ""
        for s in self.steps[max(index + 1, 0):]:
            if s["what"].startswith("prompt"):
                text = s.get("label") or s["what"].split('"')[1]
                return f"next poll T{s['at']:+.1f} (in {max(0.0, s['at'] - t_seq):.0f} s): {text}"
        return ""

    def step_text(self, index: int) -> str:
        """"step N: what it does" (its label when it has one); "" before the first step."""
        if 0 <= index < len(self.steps):
            s = self.steps[index]
            return f"step {index}: {s.get('label') or s['what']}"
        return ""
