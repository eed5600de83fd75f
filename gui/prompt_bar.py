"""Bars across the top of the console that an operator must see: the sequence's GO/NO-GO
prompt while the count waits for it (the time left, the two answers; the stand's ABORT stays
where it always is, this bar's NO-GO answers the prompt, which aborts the run), and why the
last run was aborted or the stand faulted, until someone acknowledges it.

Both live in one slot whose height is reserved whether or not a bar shows (:class:`BarSlot`):
a bar appearing never moves a button or a tab. And GO ignores clicks for ``GO_GUARD_S`` after a
prompt appears (it shows "wait"): a click aimed at what was there before cannot answer GO."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

GO_GUARD_S = 0.8  # GO is greyed this long after its prompt appears
SLOT_HEIGHT = 80  # px reserved for the bars, always


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
        self.text.setStyleSheet("font: bold 15pt sans-serif;")
        self.left = QLabel("")
        self.left.setStyleSheet("font: 12pt monospace;")
        head = QHBoxLayout()  # title and time left on one line: the slot stays low
        head.addWidget(self.title, 1)
        head.addWidget(self.left)
        text_col.addLayout(head)
        text_col.addWidget(self.text)
        lay.addLayout(text_col, 1)
        self.proceed_btn = QPushButton("GO — PROCEED")
        self.proceed_btn.setStyleSheet("background: #2e7d32; color: white; font: bold 16pt sans-serif; padding: 6px;")
        self.nogo_btn = QPushButton("NO-GO — ABORT RUN")
        self.nogo_btn.setStyleSheet("background: #c62828; color: white; font: bold 16pt sans-serif; padding: 6px;")
        for b in (self.proceed_btn, self.nogo_btn):
            b.setMinimumHeight(48)
            lay.addWidget(b)
        self.proceed_btn.clicked.connect(lambda: self._send("proceed"))
        self.nogo_btn.clicked.connect(lambda: self._send("abort"))
        self.shown_at = 0.0
        self.answered = False
        self.setVisible(False)

    def _send(self, answer: str) -> None:
        if answer == "proceed" and (time.monotonic() - self.shown_at < GO_GUARD_S or self.answered):
            return  # too soon to be a GO meant for this prompt
        if self.index >= 0 and not self.answered:
            self.answered = True
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
        now = time.monotonic()
        if prompt.get("index") != self.index:
            self.index = int(prompt["index"])
            self.shown_at, self.answered = now, False
            self.nogo_btn.setEnabled(True)
        guarded = now - self.shown_at < GO_GUARD_S
        self.proceed_btn.setEnabled(not guarded and not self.answered)
        self.proceed_btn.setText("GO — wait…" if guarded else "GO — PROCEED")
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
        self.alarms = 0  # aborts and faults raised so far ...
        self.acked = 0  # ... and how many of them are acknowledged: each one is, on its own
        self.status_seen = ""
        self.setVisible(False)

    def raise_alarm(self, text: str) -> None:
        """A new abort or fault (from a ``state`` event of the controller): shown even if the
        same words were acknowledged before."""
        self.alarms += 1
        self.shown = text
        self.text.setText(text)
        self.setVisible(True)

    def on_event(self, ev: dict[str, Any]) -> None:
        """Each transition into ABORTING or FAULT is an alarm, with that transition's reason,
        whoever caused it (a station, a NO-GO answer, a redline, a hardware input)."""
        if ev.get("kind") != "state" or ev.get("to") not in ("ABORTING", "FAULT"):
            return
        source = f" [{ev['source']}]" if ev.get("source") else ""
        self.raise_alarm(f"{'FAULT' if ev['to'] == 'FAULT' else 'ABORTED'}: {ev.get('reason', '?')}{source}")

    def update_reason(self, status: dict[str, Any]) -> None:
        """The status's reason, for what this console saw no event of (it connected later): a
        reason that changes and is not on the bar already is a new alarm."""
        fault, abort = status.get("fault_reason"), status.get("abort_reason")
        reason = f"FAULT: {fault}" if fault else f"ABORTED: {abort}" if abort else ""
        if reason != self.status_seen:
            self.status_seen = reason
            if reason and not self.shown.startswith(reason):
                self.raise_alarm(reason)

    def pending(self) -> bool:
        """An abort or fault nobody has acknowledged yet (ARM waits for it)."""
        return self.acked < self.alarms

    def acknowledge(self) -> None:
        self.acked = self.alarms
        self.setVisible(False)


class BarSlot(QWidget):
    """The reserved strip for the alarm and prompt bars: its height never changes, so nothing
    below it moves when a bar appears or goes."""

    def __init__(self, alarm: AlarmBar, prompt: PromptBar) -> None:
        super().__init__()
        self.setObjectName("barSlot")
        self.setFixedHeight(SLOT_HEIGHT)
        # nor its width: what a bar needs must not widen the window (which moves the controls)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(1)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.quiet = QLabel("no alarm · no prompt")
        self.quiet.setStyleSheet("color: #9e9e9e;")
        lay.addWidget(self.quiet, 1)
        lay.addWidget(alarm, 1)
        lay.addWidget(prompt, 2)
        self.alarm, self.prompt = alarm, prompt

    def refresh(self) -> None:
        self.quiet.setVisible(not self.alarm.isVisible() and not self.prompt.isVisible())
