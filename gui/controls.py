"""The operator's controls on the console: authority, ARM, START, HOLD/RESUME, RESET and
ABORT (always enabled, on Esc, Ctrl+Space and F12 wherever focus is — in the main window and in
every dialog, none of which is modal: gui/dialogs.py), with the reasons a disabled button gives.
A part of the main window (gui/main_window.py), kept apart because these are the rules an
operator meets: anything that moves propellant asks first, Cancel by default; ARM waits until
the last abort or fault has been acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from hil.gui.dialogs import LIVE_STATES, DialogDesk

if TYPE_CHECKING:
    from hil.gui.checkout_panel import CheckoutPanel
    from hil.gui.client import CommandLink
    from hil.gui.model import ConsoleModel
    from hil.gui.pid import PidView
    from hil.gui.prompt_bar import AlarmBar
    from hil.gui.sequence_panel import SequencePanel


class OperatorControls:
    """Mixed into the main window: its button bar and what the buttons do."""

    model: ConsoleModel
    link: CommandLink | None
    replay: dict[str, Any] | None
    sequence: SequencePanel
    checkout: CheckoutPanel
    pid: PidView
    confirm_fn: Callable[[str], bool] | None  # a test's (or the autopilot's) instant answer; None: the dialog
    desk: DialogDesk
    alarm_bar: AlarmBar
    station: str

    def send(self, cmd: str, **args: Any) -> None: ...  # the window's

    def show_message(self, text: str, error: bool = False) -> None: ...  # the window's

    def _control_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        self.arm_btn = QPushButton("ARM…")
        self.start_btn = QPushButton("START")
        self.reset_btn = QPushButton("RESET FAULT")
        self.authority_btn = QPushButton("Request authority")
        self.hold_btn = QPushButton("HOLD COUNT")
        self.resume_btn = QPushButton("RESUME COUNT")
        self.abort_btn = QPushButton("ABORT  (Esc)")
        self.abort_btn.setObjectName("abortButton")
        self.abort_btn.setMinimumHeight(56)
        self.abort_btn.setMinimumWidth(260)
        self.abort_btn.setStyleSheet("QPushButton#abortButton { background: #c62828; color: white; "
                                     "font: bold 20pt sans-serif; border-radius: 6px; }")
        for b in (self.authority_btn, self.arm_btn, self.start_btn, self.hold_btn, self.resume_btn, self.reset_btn):
            b.setMinimumHeight(40)
            bar.addWidget(b)
        self.message = QLabel("")
        self.message.setObjectName("messageLine")
        self.message.setWordWrap(True)
        bar.addWidget(self.message, 1)
        bar.addWidget(self.abort_btn)
        self.arm_btn.clicked.connect(self.arm)
        self.start_btn.clicked.connect(self.start)
        self.reset_btn.clicked.connect(lambda: self.send("reset"))
        self.hold_btn.clicked.connect(lambda: self.send("hold"))
        self.authority_btn.clicked.connect(self._authority_action)
        self.resume_btn.clicked.connect(lambda: self.send("resume"))
        self.abort_btn.clicked.connect(self.abort)
        for key in ("Escape", "Ctrl+Space", "F12"):
            # the main window's own: each dialog carries the same keys for itself (gui/dialogs.py);
            # an application-wide shortcut here would make the keys ambiguous inside a dialog
            shortcut = QShortcut(QKeySequence(key), cast(QWidget, self))
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(self.abort)
        return bar

    def stand_live(self) -> bool:
        """The stand can burn now (ARMED, RUNNING, ABORTING): Esc in a dialog means ABORT."""
        return self.replay is None and self.model.status.get("state") in LIVE_STATES

    def ask(self, text: str, then: Callable[[], None], otherwise: Callable[[], None] | None = None) -> None:
        """Anything that moves propellant asks first, Cancel the default (a stray Enter does
        nothing). The question is a non-modal dialog answered through ``then``/``otherwise``
        (gui/dialogs.py), so ABORT stays reachable while it is open; ``confirm_fn``, when set,
        answers at once instead (tests, the autopilot)."""
        if self.confirm_fn is not None:
            (then if self.confirm_fn(text) else (otherwise or (lambda: None)))()
            return
        self.desk.confirm(text, then, otherwise)

    def arm(self) -> None:
        seq = self.sequence.title.text()
        self.ask(f"ARM the stand for:\n\n{seq}\n\nPropellant valves will open when you press START.",
                 lambda: self.send("arm"))

    def start(self) -> None:
        from hil.gui.client import CLIENT_WATCHDOG_S

        self.send("start", watchdog_s=CLIENT_WATCHDOG_S)  # the console killed mid-burn → the run aborts

    def has_authority(self) -> bool:
        """This console holds command authority (or nobody does: the first command takes it)."""
        holder = (self.model.status.get("authority") or {}).get("holder_id")
        return holder is None or (self.link is not None and holder == self.link.client_id)

    def _authority_action(self) -> None:
        """Request it when another console holds it; hand it over when this one holds it and
        someone asked."""
        auth = self.model.status.get("authority") or {}
        if self.link is not None and auth.get("holder_id") == self.link.client_id:
            if auth.get("requested_by"):
                self.ask(f"Hand command authority to {auth['requested_by']}?", lambda: self.send("hand_over"))
        else:
            self.send("request_authority")

    def answer(self, index: int, answer: str) -> None:
        """GO (proceed) or NO-GO (abort) to the sequence's pending prompt ``index``."""
        self.send("answer", index=index, answer=answer)

    def abort(self) -> None:
        """Always enabled, never waits: queued ahead of every other command. The reason names
        this console's station, so every console shows who aborted."""
        self.send("abort", reason=f"operator abort (station {self.station})")
        self.show_message("ABORT sent", error=True)

    def _update_buttons(self) -> None:
        state = self.model.status.get("state", "—")
        live = self.replay is None and self.model.connected
        mine = self.has_authority()
        auth = self.model.status.get("authority") or {}
        unacked = self.alarm_bar.pending()
        self.arm_btn.setEnabled(live and mine and state == "SAFE" and bool(self.sequence.steps) and not unacked)
        self.start_btn.setEnabled(live and mine and state == "ARMED")
        holder, asked = auth.get("holder"), auth.get("requested_by")
        if self.link is not None and auth.get("holder_id") == self.link.client_id:
            self.authority_btn.setText(f"Hand over to {asked}" if asked else "Authority: this console")
            self.authority_btn.setEnabled(live and bool(asked))
        else:
            self.authority_btn.setText(f"Request authority (held by {holder})" if holder else "Authority: free")
            self.authority_btn.setEnabled(live and bool(holder))
        self.arm_btn.setToolTip("" if self.arm_btn.isEnabled() else "ARM: " + (
            "replay" if self.replay is not None else "not connected to a controller" if not live
            else f"command authority is held by {holder}" if not mine
            else "no sequence loaded" if not self.sequence.steps
            else f"only from SAFE (the stand is {state})" if state != "SAFE"
            else "acknowledge the abort/fault bar first"))
        self.start_btn.setToolTip("" if self.start_btn.isEnabled() else "START: " + (
            "replay" if self.replay is not None else "not connected to a controller" if not live
            else f"command authority is held by {holder}" if not mine
            else f"ARM first (the stand is {state})" if state == "SAFE" else f"only from ARMED (the stand is {state})"))
        self.reset_btn.setEnabled(live and state == "FAULT")
        st = self.model.status
        t_seq, held = st.get("t_seq"), st.get("held_by")
        self.hold_btn.setEnabled(live and state == "RUNNING" and not held and isinstance(t_seq, (int, float))
                                 and t_seq < 0)
        self.hold_btn.setToolTip("stop the count before T-0 (outputs stay, redlines keep running); refused from T-0 on")
        self.resume_btn.setEnabled(live and bool(held))
        self.resume_btn.setToolTip(f"the count is held by {held}" if held else "")
        # live: always enabled; a replay commands nothing, so it offers neither ABORT nor manual mode
        self.abort_btn.setEnabled(self.replay is None)
        self.abort_btn.setToolTip("" if self.replay is None else "replay: a recorded run, nothing to abort")
        self.pid.manual.setVisible(self.replay is None)
        if self.replay is not None:
            self.pid.manual.setChecked(False)
        self.checkout.update_status(self.model.status, live, mine)

