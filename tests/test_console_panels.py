"""The console's tabs share one interface (gui/panel.py) and the window feeds them from one
list: a panel added to that list is configured, shown events, answers and frames, live and in
replay, with no other change to the window."""

from __future__ import annotations

import math
from typing import Any

import pytest
from conftest import LAB, ROOT
from PySide6.QtWidgets import QLabel

from hil.gui.main_window import MainWindow
from hil.gui.panel import ConsolePanel, PanelFrame
from hil.runner import RunOptions, run
from hil.service.meta import stand_meta
from hil.stand import load_stand

pytestmark = pytest.mark.timeout(120)


class Probe(QLabel):
    """A panel that writes down what the window showed it."""

    tab_title = "Probe"
    frame_every = 2

    def __init__(self) -> None:
        super().__init__("probe")
        self.seen: list[tuple[str, Any]] = []

    def configure(self, meta: dict[str, Any]) -> None:
        self.seen.append(("configure", meta.get("stand")))

    def forget(self) -> None:
        self.seen.append(("forget", None))

    def on_event(self, ev: dict[str, Any]) -> None:
        self.seen.append(("event", ev.get("kind")))

    def on_reply(self, cmd: str, reply: dict[str, Any]) -> None:
        self.seen.append(("reply", cmd))

    def show_frame(self, frame: PanelFrame) -> None:
        self.seen.append(("frame", frame))

    def kinds(self, what: str) -> list[Any]:
        return [x for k, x in self.seen if k == what]


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    qtbot.addWidget(win)
    return win


def test_every_tab_is_a_console_panel_in_the_order_of_the_list(window) -> None:
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == \
        ["Sequence", "Channels", "P&&ID", "Checkout", "Events"]
    for i, panel in enumerate(window.panels):
        assert isinstance(panel, ConsolePanel), type(panel).__name__
        assert window.tabs.widget(i) is panel
        assert panel.frame_every >= 1
    assert isinstance(Probe(), ConsolePanel)
    assert not isinstance(QLabel("not a panel"), ConsolePanel)  # the check can fail


def test_a_panel_in_the_list_is_fed_meta_replies_and_frames_at_its_own_rate(window) -> None:
    probe = Probe()
    window.panels.append(probe)
    meta = stand_meta(load_stand(LAB), (), 1000.0)
    window.on_reply("meta", {"ok": True, **meta})
    assert probe.kinds("configure") == [meta["stand"]]
    window.on_reply("load", {"ok": False, "refused": "no such file"})
    assert "load" in probe.kinds("reply")
    window.model.status = {"state": "SAFE", "step": 3, "disqualified": ["pc_b"]}
    for _ in range(4):
        window.tick()
    frames = probe.kinds("frame")
    assert len(frames) == 2  # every second tick, as it asked
    f = frames[-1]
    assert f.state == "SAFE" and f.step == 3 and f.disqualified == ("pc_b",) and not f.replay
    assert f.pc_channel == meta["pc_channel"]


def test_a_replay_forgets_then_configures_and_replays_events_and_frames_to_every_panel(window, tmp_path) -> None:
    res = run(RunOptions(sequence=str(ROOT / "configs" / "sequences" / "lab_relight.toml"), stand=str(LAB),
                         sim="lockstep", out=str(tmp_path / "run"), progress=False))
    assert res.exit_code == 0
    probe = Probe()
    window.panels.append(probe)
    window.open_replay(str(tmp_path / "run"))
    kinds = [k for k, _ in probe.seen]
    assert kinds[:2] == ["forget", "configure"]
    events = probe.kinds("event")
    assert "sequence_start" in events
    assert events == [ev["kind"] for ev in window.replay["events"]]  # all of them, in order
    window.scrub.setValue(window.scrub.maximum() // 2)
    f = probe.kinds("frame")[-1]
    assert f.replay and f.state == "REPLAY" and f.disqualified == ()
    row = dict(zip(window.model.columns, window.replay["rows"][window.scrub.value()]))
    assert f.latest["time"] == row["time"]
    assert f.step == (int(row["step"]) if math.isfinite(row["step"]) else -1)


def test_the_channel_table_shows_how_old_each_value_is(window) -> None:
    meta = stand_meta(load_stand(LAB), (), 1000.0)
    window.on_reply("meta", {"ok": True, **meta})
    names = [c["name"] for c in meta["channels"]]
    ages = {names[0]: 0.012, names[1]: 2.5, names[2]: None}
    frame = PanelFrame(latest={n: 1.0 for n in names[:2]}, status={"channel_age": ages}, state="SAFE", step=-1,
                       pc_channel="pc", disqualified=(), replay=False)
    window.channels.show_frame(frame)
    col = [window.channels.horizontalHeaderItem(i).text() for i in range(window.channels.columnCount())].index("age")
    shown = {window.channels.item(i, 0).text(): window.channels.item(i, col).text() for i in range(len(names))}
    assert shown[names[0]] == "12 ms" and shown[names[1]] == "2.5 s" and shown[names[2]] == "never read"
    assert shown[names[3]] == ""  # no age from the controller for it: nothing claimed
    assert window.channels.item(2, 1).text() == "-"  # never read: no value either, never 0
