"""ABORT from anywhere, always (docs/console.md): every dialog and confirmation the console can
show is opened during a live burn against a real controller, and ABORT — the dialog's button,
the main window's button, Esc, Ctrl+Space, F12 — aborts the run with it open, in this
station's name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import ROOT
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from hil.gui.dialogs import AbortDialog, ConfirmDialog, FileDialog, NumberDialog
from hil.gui.main_window import MainWindow
from hil.gui.plot_dialog import PlotLayoutDialog

SEQ = ROOT / "configs" / "sequences" / "tq12_hotfire_100.toml"
METHODS = ("dialog button", "main button", "Esc", "Ctrl+Space", "F12")
pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def console(qtbot):
    win = MainWindow(station="pad-A")
    qtbot.addWidget(win)
    win.show()
    yield win
    win.desk.close_all()
    win.disconnect_controller()


def _press(qtbot, win: MainWindow, dialog: AbortDialog, method: str) -> None:
    """One way of aborting, with ``dialog`` open and in front (as an operator has it)."""
    if method == "dialog button":
        QTest.mouseClick(dialog.abort_btn, Qt.MouseButton.LeftButton)
        return
    if method == "main button":  # a real click (through Qt's modality checks): the window under the dialog
        QTest.mouseClick(win.abort_btn, Qt.MouseButton.LeftButton)
        return
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=5000)
    target = dialog.focusWidget() or dialog  # where the keyboard is: a list, a line edit, a button
    if method == "Esc":
        QTest.keyClick(target, Qt.Key.Key_Escape)
    elif method == "Ctrl+Space":
        QTest.keyClick(target, Qt.Key.Key_Space, Qt.KeyboardModifier.ControlModifier)
    else:
        QTest.keyClick(target, Qt.Key.Key_F12)


def _opened(win: MainWindow, before: int) -> AbortDialog:
    assert len(win.desk.open) == before + 1, "the dialog did not open"
    return win.desk.open[-1]


def _open_number(win: MainWindow) -> AbortDialog:
    n = len(win.desk.open)
    win.pid.clicked("fuel_main")  # a proportional propellant valve: its position first
    return _opened(win, n)


def _open_number_confirm(win: MainWindow) -> AbortDialog:
    number = _open_number(win)
    assert isinstance(number, NumberDialog)
    number.spin.setValue(40.0)
    n = len(win.desk.open)
    number.ok_btn.click()  # ... then the question, naming the valve
    return _opened(win, n - 1)


def _during_burn(fn: Callable[[MainWindow], Any]) -> Callable[[MainWindow], AbortDialog]:
    def open_it(win: MainWindow) -> AbortDialog:
        n = len(win.desk.open)
        fn(win)
        return _opened(win, n)
    return open_it


# name -> (opened before ARM (True: in SAFE, kept open through ARM and START) or mid-burn, opener, type)
DIALOGS: dict[str, tuple[bool, Callable[[MainWindow], AbortDialog], type]] = {
    "Plots…": (False, _during_burn(lambda w: w.plots.layout_btn.click()), PlotLayoutDialog),
    "ARM confirm": (False, _during_burn(lambda w: w.arm()), ConfirmDialog),
    "close confirm": (False, _during_burn(lambda w: w.close()), ConfirmDialog),
    "hand-over confirm": (False, _during_burn(lambda w: w.authority_btn.click()), ConfirmDialog),
    "zero confirm": (False, _during_burn(lambda w: w.checkout.zero()), ConfirmDialog),
    "valve timing confirm": (False, _during_burn(lambda w: w.checkout.valves()), ConfirmDialog),
    "sequence file": (False, _during_burn(lambda w: w.sequence.open_btn.click()), FileDialog),
    "P&ID valve value": (True, _open_number, NumberDialog),
    "P&ID valve confirm": (True, _open_number_confirm, ConfirmDialog),
}


def _count(win: MainWindow, kind: str, **match: Any) -> int:
    return sum(1 for e in win.model.events if e.get("kind") == kind and all(e.get(k) == v for k, v in match.items()))


def _order(i: int, before_arm: bool) -> list[str]:
    """The methods for dialog ``i``: which one meets the RUNNING stand rotates from dialog to
    dialog (so each does for some dialogs); the others follow while the stand is ABORTING (each
    must still reach the controller as an abort), Esc last as it also closes the dialog (a
    dialog opened mid-burn is opened again after an Esc that came first)."""
    first = METHODS[i % len(METHODS)]
    if first == "Esc" and before_arm:
        first = METHODS[0]
    return [first] + [m for m in METHODS if m not in (first, "Esc")] + ([] if first == "Esc" else ["Esc"])


def _to_safe(win: MainWindow, qtbot) -> None:
    """SAFE again after a run; a FAULT the shared machine caused (a starved loop tripping the
    firmware watchdog) is reset, as a crew would."""
    import time

    deadline = time.monotonic() + 60
    while win.model.status.get("state") != "SAFE":
        assert time.monotonic() < deadline, f"not SAFE: {win.model.status.get('state')} {win.model.status.get('reason')}"
        if win.model.status.get("state") == "FAULT":
            win.send("reset")
        qtbot.wait(300)


def _one_dialog(win: MainWindow, qtbot, i: int, name: str, before_arm: bool, open_it, kind: type,
                firsts: set[str]) -> None:
    reason = "operator abort (station pad-A)"
    _to_safe(win, qtbot)
    win.pid.manual.setChecked(before_arm)
    dialog = None
    if before_arm:
        qtbot.waitUntil(lambda: win.pid.state == "SAFE", timeout=5000)
        dialog = open_it(win)
    runs = _count(win, "state", to="ABORTING", reason=reason)
    win.send("arm")
    qtbot.waitUntil(lambda: win.model.status.get("state") == "ARMED", timeout=15000)
    win.send("start", watchdog_s=3.0)
    qtbot.waitUntil(lambda: win.model.status.get("state") == "RUNNING", timeout=15000)
    if dialog is None:
        dialog = open_it(win)
    for k, method in enumerate(_order(i, before_arm)):
        where = f"{name} / {method}"
        if not dialog.isVisible():
            dialog = open_it(win)
        assert isinstance(dialog, kind) and not dialog.isModal() and dialog.isVisible(), where
        qtbot.waitExposed(dialog)
        aborts = _count(win, "abort", reason=reason, station="pad-A")
        _press(qtbot, win, dialog, method)
        # the controller takes it as an abort from this station ...
        qtbot.waitUntil(lambda n=aborts: _count(win, "abort", reason=reason, station="pad-A") == n + 1, timeout=10000)
        if k == 0:  # ... and the first one aborts the running stand at once
            qtbot.waitUntil(lambda: _count(win, "state", to="ABORTING", reason=reason) == runs + 1, timeout=10000)
            ev = [e for e in win.model.events if e.get("kind") == "state" and e.get("to") == "ABORTING"][-1]
            assert ev.get("station") == "pad-A", where
            qtbot.waitUntil(lambda: win.alarm_bar.isVisible() and reason in win.alarm_bar.text.text(), timeout=5000)
            firsts.add(method)
        assert (method == "Esc") != dialog.isVisible(), f"{where}: Esc closes, the others leave it open"
    dialog.reject()
    win.alarm_bar.ack_btn.click()


@pytest.mark.slow
def test_every_dialog_open_mid_burn_lets_every_abort_through(console, qtbot, controller) -> None:
    from hil.service.client import ControllerClient

    win = console
    win.connect_controller(controller.rep, controller.pub)
    qtbot.waitUntil(lambda: win.model.connected and win.model.status.get("state") == "SAFE", timeout=30000)
    win.sequence.load(str(SEQ))
    qtbot.waitUntil(lambda: bool(win.sequence.steps), timeout=15000)
    other = ControllerClient(controller.rep, controller.pub, timeout_s=5, name="pad-B")
    firsts: set[str] = set()
    try:
        qtbot.waitUntil(lambda: (win.model.status.get("authority") or {}).get("holder") == "pad-A", timeout=10000)
        assert other.request("request_authority")["ok"]  # for the hand-over question
        for i, (name, (before_arm, open_it, kind)) in enumerate(DIALOGS.items()):
            for attempt in range(3):
                faults = _count(win, "state", to="FAULT")
                try:
                    _one_dialog(win, qtbot, i, name, before_arm, open_it, kind, firsts)
                    break
                except Exception:
                    win.desk.close_all()
                    if attempt == 2 or _count(win, "state", to="FAULT") == faults:
                        raise  # only a FAULT of the loaded machine is retried
        assert firsts == set(METHODS)  # each way of aborting met a RUNNING stand at least once
        assert win.isVisible()  # no close confirmation was answered Yes
    finally:
        other.close()


def test_esc_in_a_dialog_only_closes_it_while_nothing_can_burn(console, qtbot) -> None:
    """SAFE (or not connected): Esc closes a dialog and sends nothing; ARMED/RUNNING/ABORTING:
    Esc is ABORT. Ctrl+Space and F12 are ABORT in every state."""
    win = console
    for state, esc_aborts in (("SAFE", False), ("FAULT", False), ("ARMED", True), ("RUNNING", True),
                              ("ABORTING", True)):
        win.model.status = {"state": state}
        for key, aborts in (("Escape", esc_aborts), ("Ctrl+Space", True), ("F12", True)):
            win.message.setText("")
            box = win.desk.confirm("a question", lambda: None)
            box.abort_key(key)
            assert (win.message.text() == "ABORT sent") == aborts, (state, key)
            assert box.isVisible() == (key != "Escape"), (state, key)
            box.reject()


def test_closing_mid_run_asks_without_blocking_and_yes_closes(console, qtbot) -> None:
    """The close question is a non-modal dialog too: the window stays (and ABORT with it)
    until the operator answers; Cancel keeps the console, Yes closes it."""
    win = console
    win.model.status = {"state": "RUNNING"}
    win.close()
    box = win.desk.open[-1]
    assert isinstance(box, ConfirmDialog) and "The stand is RUNNING" in box.text.text() and win.isVisible()
    box.cancel_btn.click()
    assert win.isVisible() and not win.desk.open
    win.close()
    win.desk.open[-1].yes_btn.click()
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=5000)
