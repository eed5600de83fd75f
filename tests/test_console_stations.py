"""Stations (docs/console.md): two consoles with different station names on one controller.
The watcher sees the loaded sequence, the current step and the T-clock; an abort from one
station shows its red bar on the other, in the aborting station's name; after a hand-over the
new holder can ARM without reloading; every event a command causes names its station."""

from __future__ import annotations

import os

import pytest
from conftest import ROOT

from hil.gui.main_window import MainWindow, default_station

SEQ = ROOT / "configs" / "sequences" / "tq12_hotfire_100.toml"
pytestmark = pytest.mark.timeout(300)


def _side_by_side(a: MainWindow, b: MainWindow, path) -> None:
    """Both consoles in one picture (docs/stations.png): A left, B right."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QImage, QPainter

    ga, gb = a.grab().toImage(), b.grab().toImage()
    img = QImage(ga.width() + gb.width() + 12, max(ga.height(), gb.height()), QImage.Format.Format_RGB32)
    img.fill(QColor("#37474f"))
    with_painter = QPainter(img)
    with_painter.drawImage(0, 0, ga)
    with_painter.drawImage(ga.width() + 12, 0, gb)
    with_painter.end()
    img.scaledToWidth(1800, Qt.TransformationMode.SmoothTransformation).save(str(path))


def test_the_default_station_differs_per_console() -> None:
    assert default_station().endswith(f"#{os.getpid()}") and "@" in default_station()


@pytest.mark.slow
def test_two_stations_watch_abort_and_hand_over(qtbot, controller) -> None:
    a, b = MainWindow(station="pad-A"), MainWindow(station="pad-B")
    for w in (a, b):
        qtbot.addWidget(w)
        w.resize(1280, 760)
        w.confirm_fn = lambda text: True  # the hand-over question, answered yes
        w.show()
        w.connect_controller(controller.rep, controller.pub)
    try:
        qtbot.waitUntil(lambda: a.model.connected and b.model.connected, timeout=30000)
        qtbot.waitUntil(lambda: a.model.status.get("state") == "SAFE", timeout=30000)
        a.sequence.load(str(SEQ))
        qtbot.waitUntil(lambda: bool(a.sequence.steps), timeout=15000)
        # the watcher shows the timeline A loaded, fetched by itself
        qtbot.waitUntil(lambda: b.sequence.timeline.count() == len(a.sequence.steps), timeout=10000)
        assert b.sequence.title.text() == a.sequence.loaded and b.sequence.sha256 == a.sequence.sha256
        assert "station pad-B" in b.status.conn.text() and b.windowTitle().endswith("station pad-B")
        assert not b.arm_btn.isEnabled() and "held by pad-A" in b.arm_btn.toolTip()
        qtbot.waitUntil(a.arm_btn.isEnabled, timeout=15000)
        a.arm()
        qtbot.waitUntil(lambda: a.model.status.get("state") == "ARMED", timeout=15000)
        a.start()
        # ... and follows the run: the current step highlighted, the T-clock counting
        qtbot.waitUntil(lambda: b.sequence.current >= 1 and (b.model.status.get("t_seq") or -99) > -1.0,
                        timeout=30000)
        assert b.status.clock.text().startswith("T") and b.status.step.text() != ""
        # B aborts: A shows the red bar in B's name
        b.abort()
        qtbot.waitUntil(lambda: a.alarm_bar.isVisible() and "station pad-B" in a.alarm_bar.text.text(), timeout=10000)
        qtbot.waitUntil(lambda: b.alarm_bar.isVisible() and "station pad-B" in b.alarm_bar.text.text(), timeout=10000)
        if os.environ.get("UPDATE_SCREENSHOT"):
            qtbot.wait(300)  # both laid out after the bar appeared
            _side_by_side(a, b, ROOT / "docs" / "stations.png")
        ev = next(e for e in a.model.events if e.get("kind") == "abort")
        assert ev["station"] == "pad-B" and ev["reason"] == "operator abort (station pad-B)"
        # A's own commands are A's on the record
        assert {e.get("station") for e in a.model.events if e.get("kind") == "state" and e.get("to") in
                ("ARMED", "RUNNING")} == {"pad-A"}
        assert next(e for e in a.model.events if e.get("kind") == "sequence_loaded")["station"] == "pad-A"
        qtbot.waitUntil(lambda: a.model.status.get("state") == "SAFE", timeout=30000)
        for w in (a, b):
            w.alarm_bar.ack_btn.click()
        # hand-over: B asks, A hands over, B arms the sequence A loaded (no reload)
        b.authority_btn.click()
        qtbot.waitUntil(lambda: (a.model.status.get("authority") or {}).get("requested_by") == "pad-B", timeout=10000)
        qtbot.waitUntil(a.authority_btn.isEnabled, timeout=5000)
        a.authority_btn.click()
        qtbot.waitUntil(lambda: b.authority_btn.text() == "Authority: this console", timeout=10000)
        handed = [e for e in a.model.events if e.get("kind") == "authority"]
        assert handed and handed[-1].get("station") == "pad-A"
        qtbot.waitUntil(b.arm_btn.isEnabled, timeout=15000)
        b.arm()
        qtbot.waitUntil(lambda: b.model.status.get("state") == "ARMED", timeout=15000)
        armed = [e for e in b.model.events if e.get("kind") == "state" and e.get("to") == "ARMED"]
        assert armed[-1]["station"] == "pad-B"
        b.abort()
        qtbot.waitUntil(lambda: b.model.status.get("state") != "ARMED", timeout=30000)
    finally:
        for w in (a, b):
            w.disconnect_controller()
