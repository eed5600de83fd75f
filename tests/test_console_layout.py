"""A stable layout (docs/console.md): the alarm and prompt bars live in a slot whose height is
reserved, so no button or tab moves when they appear; GO ignores clicks for a moment after its
prompt appears."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QTabBar

from hil.gui.main_window import MainWindow
from hil.gui.prompt_bar import GO_GUARD_S

PROMPT = {"index": 2, "line": 40, "text": "GO/NO-GO for burn 1: tanks pressurised?", "asked_at": 10.0,
          "timeout_s": 60.0, "on_timeout": "abort"}


def _controls(win: MainWindow) -> dict[str, QRect]:
    """Where every button and tab bar outside the bar slot is, in window coordinates."""
    out: dict[str, QRect] = {}
    for w in win.findChildren(QAbstractButton) + win.findChildren(QTabBar):
        if not w.isVisible() or win.bar_slot.isAncestorOf(w):
            continue
        out[f"{type(w).__name__}:{w.objectName() or getattr(w, 'text', lambda: '')()}:{id(w)}"] = QRect(
            w.mapTo(win, QPoint(0, 0)), w.size())
    return out


def test_no_control_moves_when_a_bar_appears(qtbot) -> None:
    win = MainWindow(station="pad-A")
    qtbot.addWidget(win)
    win.resize(1280, 720)
    win.show()
    qtbot.waitExposed(win)
    qtbot.wait(50)
    before = _controls(win)
    assert len(before) > 10
    shows = [("alarm", lambda: win.alarm_bar.raise_alarm("ABORTED: operator abort (station pad-B)")),
             ("prompt", lambda: (win.alarm_bar.acknowledge(), setattr(win.model, "status", {"prompt": PROMPT, "t": 12.0}))),
             ("both", lambda: win.alarm_bar.raise_alarm("FAULT: communication lost")),
             ("both gone", lambda: (win.alarm_bar.acknowledge(), setattr(win.model, "status", {})))]
    for what, show in shows:
        show()
        win.tick()
        qtbot.wait(50)  # let the layout settle
        assert win.alarm_bar.isVisible() == (what in ("alarm", "both"))
        assert win.prompt_bar.isVisible() == (what in ("prompt", "both"))
        assert _controls(win) == before, f"{what}: a control moved"


def test_go_ignores_a_click_in_the_first_instant(qtbot) -> None:
    """A click that lands on GO right after the bar appeared was aimed at something else: it
    does not answer. Once GO has turned green, a click does (here: sent, and refused as this
    console is not connected)."""
    import time

    win = MainWindow(station="pad-A")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.model.status = {"state": "RUNNING", "prompt": PROMPT, "t": 12.0}
    win.tick()
    go = win.prompt_bar.proceed_btn
    assert win.prompt_bar.isVisible()
    QTest.mouseClick(go, Qt.MouseButton.LeftButton)
    assert win.message.text() == "" and not win.prompt_bar.answered
    assert not go.isEnabled() and "wait" in go.text()
    # the same click through the slot itself (a programmatic click ignores disabled state)
    win.prompt_bar._send("proceed")  # noqa: SLF001
    assert not win.prompt_bar.answered
    shown = time.monotonic()
    qtbot.waitUntil(go.isEnabled, timeout=5000)
    assert time.monotonic() - shown >= GO_GUARD_S * 0.9 and go.text() == "GO — PROCEED"
    QTest.mouseClick(go, Qt.MouseButton.LeftButton)
    assert win.prompt_bar.answered and win.message.text() == "not connected to a controller"
