"""The console's Checkout tab: zero the transducers and time the valves on the stand the
controller holds, before propellants are loaded.

The panel only asks; the controller runs the procedure (hil/checkout/jobs.py) and refuses it
with the reason when the stand is not SAFE, an isolation valve is open or another console holds
command authority. Both buttons ask first, naming what will be read or moved, with Cancel as the
default. While a checkout runs the panel shows what it is doing and offers CANCEL (ABORT ends it
too); at the end it shows the report and where the record is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from hil.gui.panel import PanelFrame


class CheckoutPanel(QWidget):
    """Zero / valve timing buttons, the running checkout, the last report."""

    tab_title = "Checkout"
    frame_every = 6

    def __init__(self, send: Callable[..., None], ask: Callable[..., None]) -> None:
        super().__init__()
        self.send, self.ask = send, ask  # ask(text, then): a non-modal confirmation (gui/dialogs.py)
        self.zero_names: list[str] = []
        self.valve_names: list[str] = []
        self.running: dict[str, Any] | None = None
        lay = QVBoxLayout(self)
        head = QLabel("Pre-test checkout — stand SAFE, before propellants are loaded")
        head.setWordWrap(True)
        head.setStyleSheet("font-weight: bold;")
        lay.addWidget(head)
        row = QHBoxLayout()
        self.zero_btn = QPushButton("Zero transducers…")
        self.seconds = QDoubleSpinBox()
        self.seconds.setRange(0.5, 30.0)
        self.seconds.setValue(3.0)
        self.seconds.setSuffix(" s vented")
        row.addWidget(self.zero_btn)
        row.addWidget(self.seconds)
        lay.addLayout(row)
        row = QHBoxLayout()
        self.valves_btn = QPushButton("Time valves…")
        self.cancel_btn = QPushButton("Cancel checkout")
        row.addWidget(self.valves_btn)
        row.addWidget(self.cancel_btn)
        lay.addLayout(row)
        self.phase = QLabel("")
        self.phase.setWordWrap(True)
        lay.addWidget(self.phase)
        self.outcome = QLabel("")
        self.outcome.setWordWrap(True)
        lay.addWidget(self.outcome)
        self.report = QTextEdit()  # the report is Markdown (checkout.md): shown with its tables
        self.report.setReadOnly(True)
        lay.addWidget(self.report, 1)
        self.lines: list[str] = []  # the last report as the controller wrote it
        self.zero_btn.clicked.connect(self.zero)
        self.valves_btn.clicked.connect(self.valves)
        self.cancel_btn.clicked.connect(lambda: self.send("cancel_checkout"))
        self.update_status({}, live=False, mine=False)

    def configure(self, meta: dict[str, Any]) -> None:
        """What this stand's checkout would read and move (from the controller's meta)."""
        check = meta.get("checkout") or {}
        self.zero_names, self.valve_names = list(check.get("zero", [])), list(check.get("valves", []))

    def zero(self) -> None:
        names = ", ".join(self.zero_names)
        s = self.seconds.value()
        self.ask(f"Zero {len(self.zero_names)} transducers ({names})?\n\nThe stand must be VENTED: each "
                        f"is read for {s:g} s and its offset written to the stand's zero file (refused, nothing "
                        "written, if any is beyond its limit). Nothing moves.",
                 lambda: self.send("checkout", kind="zero", seconds=s))

    def valves(self) -> None:
        names = ", ".join(self.valve_names)
        self.ask(f"Cycle {names} open and closed, one at a time?\n\nThe isolation valves must be closed "
                        "(the controller checks) and no propellant loaded. ABORT stops it at any time.",
                 lambda: self.send("checkout", kind="valves"))

    def update_status(self, st: dict[str, Any], live: bool, mine: bool) -> None:
        """Buttons from the controller's status: enabled only when a checkout could start, each
        disabled one saying why."""
        self.running = st.get("checkout")
        state = st.get("state", "—")
        why = ("not connected to a controller" if not live
               else f"command authority is held by {(st.get('authority') or {}).get('holder')}" if not mine
               else f"a checkout is running ({self.running['kind']})" if self.running
               else f"only with the stand SAFE (it is {state})" if state != "SAFE" else "")
        for btn, names, what in ((self.zero_btn, self.zero_names, "no channel declares a zero_limit"),
                                 (self.valves_btn, self.valve_names, "no valve has position feedback")):
            reason = why or ("" if names else what)
            btn.setEnabled(not reason)
            btn.setToolTip(reason)
        self.cancel_btn.setEnabled(live and mine and self.running is not None)
        self.phase.setText(f"running: {self.running['phase']}" if self.running else "")

    def forget(self) -> None:
        self.outcome.setText("")
        self.lines = []
        self.report.clear()

    def on_event(self, ev: dict[str, Any]) -> None:
        if ev.get("kind") == "checkout_done":
            self.show_result(ev)

    def on_reply(self, cmd: str, reply: dict[str, Any]) -> None:
        pass

    def show_frame(self, frame: PanelFrame) -> None:
        pass  # its buttons follow authority and state with the window's own (gui/controls.py)

    def show_result(self, ev: dict[str, Any]) -> None:
        """A ``checkout_done`` event: the outcome, the report, the record."""
        ok, record = bool(ev.get("ok")), str(ev.get("record") or "")
        self.outcome.setText(f"{ev.get('what')}: {'PASSED' if ok else 'FAILED'} — record {Path(record).name or '(none)'}")
        self.outcome.setToolTip(record)
        self.outcome.setStyleSheet("color: #2e7d32; font-weight: bold;" if ok else "color: #c62828; font-weight: bold;")
        self.lines = [str(x) for x in ev.get("report") or []]
        self.report.setMarkdown("\n".join(self.lines))
