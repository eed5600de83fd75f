"""Bars across the top of the console that an operator must see: the sequence's GO/NO-GO
prompt while the count waits for it (the time left, the two answers; the stand's ABORT stays
where it always is, this bar's NO-GO answers the prompt, which aborts the run), and why the
last run was aborted or the stand faulted, until someone acknowledges it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout


class PromptBar(QFrame):
    """Hidden until the controller's status carries a pending prompt."""

    def __init__(self, answer: Callable[[int, str], None]) -> None:
        super().__init__()
        self.setObjectName("promptBar")
        self.setStyleSheet("QFrame#promptBar { background: #fff3e0; border: 3px solid #ef6c00; border-radius: 6px; }")
        self._answer = answer
        self.index = -1
        lay = QHBoxLayout(self)
        text_col = QVBoxLayout()
        self.title = QLabel("PROMPT")
        self.title.setStyleSheet("color: #ef6c00; font: bold 12pt sans-serif;")
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.text.setStyleSheet("font: bold 18pt sans-serif;")
        self.left = QLabel("")
        self.left.setStyleSheet("font: 12pt monospace;")
        for w in (self.title, self.text, self.left):
            text_col.addWidget(w)
        lay.addLayout(text_col, 1)
        self.proceed_btn = QPushButton("GO — PROCEED")
        self.proceed_btn.setStyleSheet("background: #2e7d32; color: white; font: bold 16pt sans-serif; padding: 10px;")
        self.nogo_btn = QPushButton("NO-GO — ABORT RUN")
        self.nogo_btn.setStyleSheet("background: #c62828; color: white; font: bold 16pt sans-serif; padding: 10px;")
        for b in (self.proceed_btn, self.nogo_btn):
            b.setMinimumHeight(56)
            lay.addWidget(b)
        self.proceed_btn.clicked.connect(lambda: self._send("proceed"))
        self.nogo_btn.clicked.connect(lambda: self._send("abort"))
        self.setVisible(False)

    def _send(self, answer: str) -> None:
        if self.index >= 0:
            self._answer(self.index, answer)
            self.proceed_btn.setEnabled(False)  # one answer per prompt; the next status says what happened
            self.nogo_btn.setEnabled(False)

    def update_prompt(self, prompt: dict[str, Any] | None, t: float | None) -> None:
        """Show (or hide) the pending prompt; ``t`` is the controller's loop time, for the
        time left before its ``on_timeout`` applies."""
        if not prompt:
            self.index = -1
            self.setVisible(False)
            return
        if prompt.get("index") != self.index:
            self.index = int(prompt["index"])
            self.proceed_btn.setEnabled(True)
            self.nogo_btn.setEnabled(True)
        self.title.setText(f"PROMPT — the count is holding (sequence line {prompt.get('line')})")
        self.text.setText(str(prompt.get("text", "")))
        if isinstance(t, (int, float)):
            left = float(prompt.get("asked_at", t)) + float(prompt.get("timeout_s", 0.0)) - t
            self.left.setText(f"{max(0.0, left):5.0f} s left, then {str(prompt.get('on_timeout', 'abort')).upper()}")
        self.setVisible(True)


class AlarmBar(QFrame):
    """The abort or fault reason, kept on screen until acknowledged (a message line that the
    next command overwrites is not where an abort reason belongs)."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("alarmBar")
        self.setStyleSheet("QFrame#alarmBar { background: #c62828; border-radius: 6px; }")
        lay = QHBoxLayout(self)
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.text.setStyleSheet("color: white; font: bold 14pt sans-serif;")
        lay.addWidget(self.text, 1)
        self.ack_btn = QPushButton("Acknowledge")
        self.ack_btn.setMinimumHeight(36)
        self.ack_btn.clicked.connect(self.acknowledge)
        lay.addWidget(self.ack_btn)
        self.shown = ""
        self.acknowledged = ""
        self.setVisible(False)

    def update_reason(self, status: dict[str, Any]) -> None:
        """Show the fault reason, else the abort reason, unless that one was acknowledged."""
        fault, abort = status.get("fault_reason"), status.get("abort_reason")
        reason = f"FAULT: {fault}" if fault else f"ABORTED: {abort}" if abort else ""
        if reason != self.shown:
            self.shown = reason
            self.text.setText(reason)
        self.setVisible(bool(reason) and reason != self.acknowledged)

    def acknowledge(self) -> None:
        self.acknowledged = self.shown
        self.setVisible(False)
