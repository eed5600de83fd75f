"""The console under pytest-qt (offscreen): against a real controller process and simulator
over TCP, and on a recorded run."""

from __future__ import annotations

import pytest
from conftest import LAB, ROOT, TQ12

from hil.gui.main_window import MainWindow
from hil.runner import RunOptions, run
from hil.sequence import load_sequence
from hil.stand import load_stand

SEQ = ROOT / "configs" / "sequences"
pytestmark = pytest.mark.timeout(150)


def _hotfire_steps() -> int:
    """How many steps the shipped hotfire has, as the loader sees it (the timeline shows each)."""
    return len(load_sequence(SEQ / "tq12_hotfire_100.toml", load_stand(TQ12)).steps)


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    win.confirm_fn = lambda text: True  # the ARM dialog, answered yes
    qtbot.addWidget(win)
    win.show()
    return win


def test_window_builds_with_abort_always_enabled(window) -> None:
    assert window.abort_btn.isEnabled()
    assert not window.arm_btn.isEnabled() and not window.start_btn.isEnabled()
    window._update_buttons()  # noqa: SLF001
    assert window.start_btn.toolTip() == "START: not connected to a controller"  # a disabled button says why
    window.model.connected, window.model.status = True, {"state": "SAFE"}
    window._update_buttons()  # noqa: SLF001
    assert window.start_btn.toolTip() == "START: ARM first (the stand is SAFE)"
    assert window.arm_btn.toolTip() == "ARM: no sequence loaded"
    assert {window.tabs.tabText(i) for i in range(window.tabs.count())} == {"Sequence", "Channels", "P&&ID", "Checkout",
                                                                            "Events"}
    assert set(window.plots.plots) == {"pc", "thrust", "pressures", "valves"}


def test_the_status_strip_names_lost_and_stale_devices(window) -> None:
    strip = window.status
    strip.update_status({"state": "SAFE", "devices": {"daq": "ok", "plc": "ok", "tc": "ok", "flow": "ok"}})
    assert strip.devices.text() == "devices: 4 ok"
    strip.update_status({"state": "SAFE", "devices": {"daq": "ok", "plc": "lost", "tc": "stale", "flow": "ok"}})
    assert strip.devices.text() == "devices: plc LOST · tc STALE" and "c62828" in strip.devices.styleSheet()
    strip.update_status({"state": "SAFE", "devices": {"stand": "ok"}})  # one device: nothing to say
    assert strip.devices.text() == "" and strip.devices.styleSheet() == ""


def _burn(seconds: float) -> None:
    """Spend CPU time in this thread, as an expensive frame does (a sleep costs the console nothing)."""
    import time

    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_the_console_drops_its_frame_rate_when_frames_get_expensive(window, monkeypatch) -> None:
    """A frame that costs 60 ms of CPU (a slow machine, software rendering) must not take the
    whole core from the controller: the frame interval grows to three times its cost."""
    from hil.gui.main_window import FRAME_MS, MAX_FRAME_MS

    assert window.timer.interval() == FRAME_MS
    monkeypatch.setattr(window.plots, "refresh", lambda *a: _burn(0.06))
    for _ in range(12):
        window.tick()
    assert 3 * 60 <= window.timer.interval() <= MAX_FRAME_MS
    monkeypatch.setattr(window.plots, "refresh", lambda *a: None)  # cheap again: back to 30 fps
    for _ in range(40):
        window.tick()
    assert window.timer.interval() == FRAME_MS


def test_an_idle_safe_stand_is_drawn_at_4_fps_until_something_happens(window, monkeypatch) -> None:
    """SAFE, nothing happening, nobody at the console: 4 fps. A state change, an event, a
    command or the mouse over the plots brings back 30 fps at once."""
    import time

    from hil.gui import main_window as mw

    monkeypatch.setattr(window.plots, "refresh", lambda *a: None)
    window.model.connected = True
    window.model.status = {"state": "SAFE"}
    window.tick()  # the state is news: full rate for IDLE_AFTER_S
    assert window.timer.interval() == mw.FRAME_MS
    window._active_until = time.monotonic() - 1  # noqa: SLF001 (ten quiet seconds, without waiting them)
    window.tick()
    assert window.timer.interval() == mw.IDLE_FRAME_MS
    window.plots.on_mouse()  # the operator moves over the plots
    assert window.timer.interval() == mw.FRAME_MS
    window._active_until = time.monotonic() - 1  # noqa: SLF001
    window.tick()
    assert window.timer.interval() == mw.IDLE_FRAME_MS
    window.model.status = {"state": "ARMED"}  # a run is coming: full rate whatever the quiet
    window.tick()
    assert window.timer.interval() == mw.FRAME_MS


@pytest.mark.slow
def test_live_console_arm_start_plot_abort(window, qtbot, controller) -> None:
    win = window
    win.connect_controller(controller.rep, controller.pub)
    qtbot.waitUntil(lambda: win.model.connected and win.model.status.get("state") == "SAFE", timeout=30000)
    # a refusal is shown with its reason
    win.send("start")
    qtbot.waitUntil(lambda: "REFUSED start" in win.message.text(), timeout=10000)
    assert "no sequence loaded" in win.message.text()
    # loading a sequence shows its check result and the timeline
    win.sequence.load(str(SEQ / "tq12_hotfire_100.toml"))
    qtbot.waitUntil(lambda: bool(win.sequence.steps), timeout=10000)
    assert "check passed" in win.sequence.check.text() and win.sequence.timeline.count() == _hotfire_steps()
    fourth = load_sequence(SEQ / "tq12_hotfire_100.toml", load_stand(TQ12)).steps[3]
    assert f"(line {fourth.line})" in win.sequence.timeline.item(3).text()  # each step names its line
    qtbot.waitUntil(lambda: win.arm_btn.isEnabled(), timeout=10000)
    win.arm()
    qtbot.waitUntil(lambda: win.model.status.get("state") == "ARMED", timeout=10000)
    qtbot.waitUntil(lambda: win.start_btn.isEnabled(), timeout=5000)
    win.start()
    qtbot.waitUntil(lambda: win.model.status.get("state") == "RUNNING", timeout=10000)
    # the plots receive live data: Pc climbs past 9 MPa in the chamber-pressure curve
    def pc_curve_max() -> float:
        _, y = win.plots.curves["pc"].getData()
        return float(max(y)) if y is not None and len(y) else 0.0
    qtbot.waitUntil(lambda: pc_curve_max() > 9.0, timeout=30000)
    assert win.sequence.current >= 0  # the current step is highlighted
    # ABORT during the burn ends in SAFE with the abort recorded
    win.abort()
    qtbot.waitUntil(lambda: win.model.status.get("state") == "SAFE", timeout=20000)
    assert win.model.status.get("abort_reason") == f"operator abort (station {win.station})"
    qtbot.waitUntil(lambda: any("abort:" in t for t in win.events.texts()), timeout=5000)
    # manual outputs are refused outside SAFE-with-manual-mode, and ask before opening propellant
    win.pid.clicked("ox_main")
    assert win.pid.refusal == "manual mode is off"
    asked = []
    win.confirm_fn = lambda text: asked.append(text) or False
    win.pid.manual.setChecked(True)
    win.pid.state = "SAFE"
    win.pid.clicked("igniter")  # not a propellant valve: no question, sent
    assert not asked and win.pid.refusal == ""
    qtbot.waitUntil(lambda: win.model.latest().get("cmd.igniter") == 1.0, timeout=10000)


def test_a_bad_sequence_shows_located_errors(window, qtbot, controller) -> None:
    win = window
    win.connect_controller(controller.rep, controller.pub)
    qtbot.waitUntil(lambda: win.model.connected, timeout=30000)
    win.sequence.load(str(SEQ / "lab_relight.toml"))
    qtbot.waitUntil(lambda: "✘" in win.sequence.check.text(), timeout=10000)
    assert "lab_relight.toml:" in win.sequence.check.text() and "written for stand 'sim-lab'" in win.sequence.check.text()
    assert not win.arm_btn.isEnabled()
    # a failed load of a new sequence keeps the one already loaded (the controller does too)
    win.sequence.load(str(SEQ / "tq12_hotfire_100.toml"))
    qtbot.waitUntil(lambda: "✔" in win.sequence.check.text(), timeout=10000)
    steps = list(win.sequence.steps)
    win.sequence.load(str(SEQ / "lab_relight.toml"))
    qtbot.waitUntil(lambda: "✘" in win.sequence.check.text(), timeout=10000)
    assert win.sequence.steps == steps and win.sequence.timeline.count() == len(steps)
    assert "stays loaded" in win.sequence.check.text() and win.sequence.title.text() == win.sequence.loaded
    qtbot.waitUntil(lambda: win.arm_btn.isEnabled(), timeout=10000)


def test_replay_opens_a_recorded_run(window, qtbot, tmp_path) -> None:
    res = run(RunOptions(sequence=str(SEQ / "lab_relight.toml"), stand=str(LAB), sim="lockstep",
                         out=str(tmp_path / "run"), progress=False))
    assert res.exit_code == 0
    win = window
    win.open_replay(str(tmp_path / "run"))
    assert win.scrub.isVisible() and win.scrub.maximum() == res.summary["samples"] - 1
    x, y = win.plots.curves["pc"].getData()
    assert len(x) > 400 and max(y) > 1.9  # min/max of one column per two pixels
    win.scrub.setValue(win.scrub.maximum() // 2)
    x2, _ = win.plots.curves["pc"].getData()
    assert x2[-1] < x[-1]  # scrubbed back in time
    assert "REPLAY" in win.status.state.text()
    assert any("sequence_start" in t for t in win.events.texts())
    # a replay commands nothing: no ABORT, no manual mode; its Sequence tab shows the recorded timeline
    assert not win.abort_btn.isEnabled() and not win.pid.manual.isVisible()
    from hil.record.recorder import stand_of_run
    from hil.sequence import load_sequence

    recorded = load_sequence(tmp_path / "run" / "inputs" / "lab_relight.toml", stand_of_run(tmp_path / "run"))
    assert win.sequence.timeline.count() == len(recorded.steps) > 0
    step = int(dict(zip(win.model.columns, win.replay["rows"][win.scrub.value()]))["step"])
    assert win.status.step.text().startswith(f"step {step}: ") and win.sequence.current == step
    # the run's own loop figures and T-clock, not "loop: 0 cycles"
    loop = res.summary["loop"]
    assert f"of {loop['deadlines_due']} deadlines met" in win.status.health.text()
    assert win.status.clock.text().startswith("T") and "+" in win.status.clock.text()  # scrubbed mid-run: T+
    # the recorded rows carry the sequence clock: the plots read T-time around the run's T-0
    clock = win.model.clock
    assert clock.fixed and win.plots.marks.axis.t0 == clock.t0
    i = win.scrub.value()
    row = dict(zip(win.model.columns, win.replay["rows"][i]))
    assert win.status.clock.text() == f"T{row['t_seq']:+8.2f}"  # the row's own clock
    assert clock.label(row["time"], row["t_seq"]).startswith(f"T{row['time'] - clock.t0:+.3f} s")
    win.send("arm")
    assert "replay" in win.message.text()  # nothing is commanded from a replay
    _older_recordings_get_the_clock_from_their_steps(tmp_path / "run", win.replay["rows"], win.model.columns)


def _older_recordings_get_the_clock_from_their_steps(run_dir, rows, columns) -> None:
    """A recording from before rows carried ``t_seq``: the replay rebuilds the clock from the
    step events (each step's scheduled time, running with the loop between steps), absent
    before the first step; the column read from a recording is the one recorded."""
    import json

    import numpy as np
    import pyarrow as pa
    import pyarrow.ipc as ipc

    from hil.gui.replay import load_replay
    from hil.record.recorder import read_run

    table = read_run(run_dir).table
    old = table.drop_columns(["t_seq"])
    with pa.OSFile(str(run_dir / "data.arrow"), "wb") as sink, ipc.new_stream(sink, old.schema) as writer:
        writer.write_table(old)
    again = load_replay(run_dir)["rows"]
    k = columns.index("t_seq")
    steps = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    steps = [e for e in steps if e["kind"] == "step"]
    assert np.isnan(again[0, k]) and len(steps) > 3
    for e in steps:
        i = int(np.searchsorted(rows[:, 0], e["t"] - 1e-9))
        assert again[i, k] == pytest.approx(e["t_seq"], abs=1.5e-3)
    assert np.isfinite(rows[:, k]).sum() > 1000 and not np.array_equal(rows[:, k], again[:, k], equal_nan=True)


@pytest.mark.slow
def test_console_survives_the_controller_restarting(window, qtbot, tmp_path) -> None:
    from hil.gui.app import EmbeddedController

    first = EmbeddedController(TQ12, out=tmp_path / "a")
    win = window
    win.connect_controller(first.rep, first.pub)
    qtbot.waitUntil(lambda: win.model.connected, timeout=30000)
    first.stop()
    qtbot.waitUntil(lambda: not win.model.connected, timeout=10000)
    assert "no status" in win.status.conn.text()
    second = EmbeddedController(TQ12, out=tmp_path / "b")
    try:
        win.connect_controller(second.rep, second.pub)
        qtbot.waitUntil(lambda: win.model.connected and win.model.status.get("state") == "SAFE", timeout=30000)
    finally:
        second.stop()


@pytest.mark.slow
def test_console_go_no_go_prompts_and_the_hold(window, qtbot, controller) -> None:
    """The GO/NO-GO variant driven from the console against a real controller: the prompt is
    shown with both answers, the count can be held and resumed while it waits (before T-0),
    GO lets burn 1 run, NO-GO on the next prompt aborts the run in the name of this console."""
    import json

    win = window
    win.connect_controller(controller.rep, controller.pub)
    qtbot.waitUntil(lambda: win.model.connected, timeout=30000)
    win.sequence.load(str(SEQ / "tq12_three_burn_gonogo.toml"))
    qtbot.waitUntil(lambda: bool(win.sequence.steps), timeout=10000)
    qtbot.waitUntil(lambda: win.arm_btn.isEnabled(), timeout=10000)
    win.arm()
    qtbot.waitUntil(lambda: win.start_btn.isEnabled(), timeout=10000)
    win.start()
    qtbot.waitUntil(lambda: win.prompt_bar.isVisible(), timeout=15000)
    assert "GO/NO-GO for burn 1" in win.prompt_bar.text.text()
    # GO is greyed for a moment after the bar appears: a click aimed at what was there before does nothing
    assert not win.prompt_bar.proceed_btn.isEnabled() and "wait" in win.prompt_bar.proceed_btn.text()
    qtbot.waitUntil(win.prompt_bar.proceed_btn.isEnabled, timeout=5000)
    assert "s left, then ABORT" in win.prompt_bar.left.text()
    # the countdown shows the poll after this one, where it is on the sequence clock
    qtbot.waitUntil(lambda: "next poll T+" in win.status.next.text(), timeout=5000)
    assert "burn 2" in win.status.next.text()
    # before T-0 the count can be held, and resumed
    qtbot.waitUntil(lambda: win.hold_btn.isEnabled(), timeout=5000)
    win.hold_btn.click()
    qtbot.waitUntil(lambda: bool(win.model.status.get("held_by")), timeout=5000)
    assert win.station in win.model.status["held_by"] and "HOLD" in win.status.clock.text()
    assert win.resume_btn.isEnabled() and not win.hold_btn.isEnabled()
    win.resume_btn.click()
    qtbot.waitUntil(lambda: not win.model.status.get("held_by"), timeout=5000)
    win.prompt_bar.proceed_btn.click()  # GO for burn 1
    qtbot.waitUntil(lambda: not win.prompt_bar.isVisible(), timeout=5000)
    qtbot.waitUntil(lambda: (win.model.status.get("t_seq") or -9) > 0.5, timeout=10000)
    assert not win.hold_btn.isEnabled()  # committed: no hold after T-0
    _plots_read_t_time(win, qtbot)
    qtbot.waitUntil(lambda: win.prompt_bar.isVisible() and "burn 2" in win.prompt_bar.text.text(), timeout=30000)
    win.prompt_bar.nogo_btn.click()  # NO-GO for burn 2
    qtbot.waitUntil(lambda: win.model.status.get("state") == "SAFE", timeout=20000)
    reason = win.model.status.get("abort_reason") or ""
    assert "operator answered ABORT to prompt 'GO/NO-GO for burn 2" in reason and win.station in reason
    assert not win.prompt_bar.isVisible()
    # the NO-GO shows its red bar with its own reason, and ARM waits for it to be acknowledged
    qtbot.waitUntil(lambda: "operator answered ABORT" in win.alarm_bar.text.text() and win.alarm_bar.isVisible(),
                    timeout=5000)
    assert not win.arm_btn.isEnabled() and "acknowledge" in win.arm_btn.toolTip()
    win.alarm_bar.ack_btn.click()
    qtbot.waitUntil(win.arm_btn.isEnabled, timeout=5000)
    events = [json.loads(line) for line in (controller.out / "events.jsonl").read_text().splitlines()]
    answers = [(e["answer"], e["client"]) for e in events if e["kind"] == "prompt_answered"]
    assert [a for a, _ in answers] == ["proceed", "abort"] and all(c == win.station for _, c in answers)


def _plots_read_t_time(win, qtbot) -> None:
    """Past T-0 the time axis reads T-time around a fixed T-0 marked on every plot, and the
    prompt's wait (held and resumed meanwhile) is shaded where the count stood at T-2."""
    marks, clock = win.plots.marks, win.model.clock
    qtbot.waitUntil(lambda: clock.fixed and marks.axis.t0 == clock.t0, timeout=5000)
    t0 = clock.t0
    assert marks.axis.tickStrings([t0 - 10, t0, t0 + 5], 1.0, 5.0) == ["T-10", "T0", "T+5"]
    assert marks.axis.labelText == "T-time [s]"
    assert all(line.isVisible() and line.value() == t0 for line in marks.lines)
    for sp, values in marks.axis.tickValues(t0 - 7.3, t0 + 20.1, 600):  # ticks on round T-times
        assert values and all(abs((v - t0) / sp - round((v - t0) / sp)) < 1e-6 for v in values)
    from hil.gui.taxis import LABEL_STOP_S

    poll = [(k, a, b) for k, (a, b, ts) in enumerate(marks._shown) if abs(ts + 2.0) < 1e-3]  # noqa: SLF001
    assert len(poll) == 1  # the first poll's wait, hold included, is shaded ...
    k, a, b = poll[0]
    region, label = marks.regions[k]
    assert region.isVisible() and region.getRegion() == (a, b)
    assert label.textItem.toPlainText() == ("count stopped at T-2.00" if b - a >= LABEL_STOP_S else "")  # ... named if long


def test_propellant_confirmations_name_the_valve_and_default_to_cancel(window, qtbot) -> None:
    """"open ox_iso", not "to 1"; and Enter on the dialog is Cancel: nothing moves. The question
    is a non-modal dialog (gui/dialogs.py): the main window stays usable under it."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from hil.gui.dialogs import ConfirmDialog
    from hil.service.meta import stand_meta
    from hil.stand import load_stand

    pid = window.pid
    pid.configure(stand_meta(load_stand(TQ12), (), 1000.0))
    pid.manual.setChecked(True)
    pid.state = "SAFE"
    asked: list[str] = []
    window.confirm_fn = lambda text: asked.append(text) or False
    pid.clicked("ox_iso")
    assert asked and asked[0].startswith("open ox_iso (ox propellant valve)?") and "to 1" not in asked[0]
    assert pid.refusal == "not confirmed"
    # the real dialog: Enter takes the default button, which is Cancel
    window.confirm_fn = None
    sent: list[str] = []
    window.ask("open ox_iso (ox propellant valve)?", lambda: sent.append("yes"), lambda: sent.append("cancel"))
    box = window.desk.open[-1]
    assert isinstance(box, ConfirmDialog) and not box.isModal() and box.cancel_btn.isDefault()
    qtbot.waitExposed(box)
    QTest.keyClick(box, Qt.Key.Key_Return)
    assert sent == ["cancel"] and not window.desk.open


def test_plot_axes_show_values_without_an_si_factor(window) -> None:
    for p in window.plots.plots.values():
        assert not p.getAxis("left").autoSIPrefix and not p.getAxis("bottom").autoSIPrefix


def test_the_loop_figure_turns_amber_then_red_with_the_reason(window) -> None:
    """Green from 99.5 % of deadlines met, amber below, red below 98 % (docs/console.md)."""
    strip = window.status
    base = {"state": "SAFE", "deadlines_due": 10_000, "comm_ok": True}
    for share in (0.9995, 0.996, 0.995):  # 99.6 % is a healthy loop on a shared machine: not amber
        strip.update_status({**base, "deadlines_met_share": share})
        assert strip.health.styleSheet() == "" and "—" not in strip.health.text(), share
    strip.update_status({**base, "deadlines_met_share": 0.994})
    assert "ffb300" in strip.health.styleSheet() and "missing deadlines: 99.40 % (below 99.5 %)" in strip.health.text()
    strip.update_status({**base, "deadlines_met_share": 0.98})
    assert "ffb300" in strip.health.styleSheet()
    strip.update_status({**base, "deadlines_met_share": 0.95})
    assert "c62828" in strip.health.styleSheet() and "below 98 %" in strip.health.text()
    # judged on the last seconds when the controller says: a bad start-up does not stay red
    strip.update_status({**base, "deadlines_met_share": 0.95, "recent_met_share": 1.0, "recent_s": 10.0})
    assert strip.health.styleSheet() == "" and "95.00 % of 10000 deadlines met" in strip.health.text()
    strip.update_status({**base, "deadlines_met_share": 1.0, "recent_met_share": 0.99, "recent_s": 10.0})
    assert "missing deadlines: 99.00 % over the last 10 s" in strip.health.text()
    strip.update_status({**base, "deadlines_met_share": 0.95, "comm_ok": False,
                         "last_error": "daq: read: no answer from 10.0.0.21:502 unit 1 within 20 ms (3 retries), "
                                       "connection dropped and reopened"})
    assert "communication lost" in strip.health.text()
    assert strip.minimumSizeHint().width() < 1280 - 200  # the reason wraps: the window still fits 1280 px
    strip.update_status({**base, "deadlines_met_share": 0.9995, "loop_degraded": True,
                         "last_error": "read: no answer within 20 ms"})
    assert "c62828" in strip.health.styleSheet() and "loop degraded: read: no answer within 20 ms" in strip.health.text()


def test_closing_during_a_run_asks_first(window) -> None:
    asked: list[str] = []
    window.confirm_fn = lambda text: asked.append(text) or False
    window.model.status = {"state": "RUNNING"}
    window.close()
    assert window.isVisible() and "The stand is RUNNING" in asked[0] and "ABORTED" in asked[0]
    window.confirm_fn = lambda text: True
    window.close()
    assert not window.isVisible()


def test_the_event_log_shows_t_time_and_wall_time_filters_and_folds_repeats(window) -> None:
    log = window.events
    log.add({"t": 1.0, "kind": "state", "frm": "SAFE", "to": "ARMED", "wall": "2026-11-30T04:00:01"})
    log.add({"t": 2.0, "kind": "step", "index": 0, "what": "set purge=1", "line": 39, "t_seq": -3.0,
             "wall": "2026-11-30T04:00:02"})
    for k in range(60):  # a flapping link: degraded, error, restored, over and over
        log.add({"t": 3.0 + k, "kind": ("loop_degraded", "comm_error", "loop_restored")[k % 3], "error": "timeout",
                 "t_seq": -2.0, "wall": "2026-11-30T04:00:03"})
    log.add({"t": 70.0, "kind": "refused", "cmd": "hold", "reason": "a hold is refused after T-0",
             "t_seq": 0.5, "wall": "2026-11-30T04:01:10"})
    log.add({"t": 71.0, "kind": "redline", "redline": "pc_high", "detail": "10.6 > max 10.5", "t_seq": 4.2,
             "wall": "2026-11-30T04:01:11"})
    lines = log.texts()
    assert len(lines) == 5  # the 60 repeats are one line
    assert lines[1].startswith("T   -3.00  04:00:02  step 0: set purge=1")
    assert "loop_degraded ×20, comm_error ×20, loop_restored ×20" in lines[2] and "(last: timeout)" in lines[2]
    assert "refused: cmd=hold" in lines[3] and lines[3].startswith("T   +0.50  04:01:10")
    shown = lambda: [log.list.item(i).text() for i in range(log.list.count()) if not log.list.item(i).isHidden()]  # noqa: E731
    log.level.setCurrentIndex(1)  # warnings and errors
    assert len(shown()) == 3 and not any("step 0" in s for s in shown())
    log.level.setCurrentIndex(2)  # errors only
    assert len(shown()) == 1 and "redline" in shown()[0]
    log.level.setCurrentIndex(0)
    assert len(shown()) == 5


def test_an_abort_reason_stays_on_screen_until_acknowledged(window) -> None:
    bar = window.alarm_bar
    window.model.status = {"state": "SAFE", "abort_reason": "control loop degraded: 196 Hz of 1000 Hz"}
    window.tick()
    assert bar.isVisible() and bar.text.text() == "ABORTED: control loop degraded: 196 Hz of 1000 Hz"
    window.show_message("start: ok → RUNNING")  # later messages do not hide it
    window.tick()
    assert bar.isVisible()
    bar.ack_btn.click()
    window.tick()
    assert not bar.isVisible()
    window.model.status = {"state": "FAULT", "abort_reason": "x", "fault_reason": "communication lost"}
    window.tick()  # a new reason shows again
    assert bar.isVisible() and bar.text.text() == "FAULT: communication lost"


def test_the_window_fits_1280x720_with_legends_inside_their_plots(window, qtbot) -> None:
    from hil.service.meta import stand_meta
    from hil.stand import load_stand

    meta = stand_meta(load_stand(ROOT / "configs" / "stands" / "sim_tq12_devices.toml"), (), 1000.0)
    window.model.configure(meta)
    window.plots.configure()
    window.resize(1280, 720)
    qtbot.waitUntil(lambda: window.width() <= 1280 and window.height() <= 720, timeout=5000)

    def misfits() -> list[str]:
        out = []
        for key, p in window.plots.plots.items():
            legend = p.legend.mapRectToScene(p.legend.boundingRect())
            view = p.vb.sceneBoundingRect()
            if not view.contains(legend) or view.height() <= 40:
                out.append(f"{key}: legend {legend} in view {view}")
        return out

    qtbot.waitUntil(lambda: not misfits(), timeout=5000)  # once the layout has settled

    def overlong() -> list[str]:
        """Axis titles drawn longer than their axis: they run into the plots above and below."""
        out = []
        for key, p in window.plots.plots.items():
            ax = p.getAxis("left")
            if ax.label.boundingRect().width() > ax.size().height():
                out.append(f"{key}: {ax.shown!r} {ax.label.boundingRect().width():.0f} px on {ax.size().height():.0f}")
        return out

    qtbot.waitUntil(lambda: not overlong(), timeout=5000)
    valves = window.plots.plots["valves"].getAxis("left")
    assert valves.toolTip() == valves.title == "Valves: command vs position [%]"  # the whole title, on hover
    assert valves.shown.endswith("[%]")  # shortened or not, it keeps its unit


def test_an_axis_title_is_elided_to_its_room_and_keeps_its_unit(qtbot) -> None:
    from PySide6.QtGui import QFont, QFontMetricsF

    from hil.gui.axis_title import fit_title

    m = QFontMetricsF(QFont())
    title = "Valves: command vs position [%]"
    full = m.horizontalAdvance(title)
    assert fit_title(title, m, full + 1) == title
    for room in (full * 0.8, full * 0.5):
        short = fit_title(title, m, room)
        assert short != title and short.endswith("… [%]") and m.horizontalAdvance(short) <= room
    tiny = fit_title(title, m, m.horizontalAdvance("Val…"))
    assert m.horizontalAdvance(tiny) <= m.horizontalAdvance("Val…") and "[%]" not in tiny
    assert fit_title(title, m, 1.0) == ""


@pytest.mark.slow
def test_a_second_console_watches_until_authority_is_handed_over(window, qtbot, controller) -> None:
    """Two consoles on one controller: the one that commanded first holds authority; the other
    sees who does, cannot ARM (and says why), can request it, and gets it when handed over."""
    import time

    from hil.service.client import ControllerClient

    lead = ControllerClient(controller.rep, controller.pub, timeout_s=5, name="test conductor")
    try:
        deadline = time.monotonic() + 30
        while not lead.load(str(SEQ / "tq12_hotfire_100.toml"))["ok"]:
            assert time.monotonic() < deadline
        win = window
        win.connect_controller(controller.rep, controller.pub)
        qtbot.waitUntil(lambda: win.model.connected, timeout=30000)
        win.sequence.load(str(SEQ / "tq12_hotfire_100.toml"))  # refused: not this console's to load
        qtbot.waitUntil(lambda: "held by test conductor" in win.message.text(), timeout=10000)
        qtbot.waitUntil(lambda: "held by test conductor" in win.authority_btn.text(), timeout=10000)
        assert not win.arm_btn.isEnabled() and "command authority is held by test conductor" in win.arm_btn.toolTip()
        win.authority_btn.click()  # request it
        qtbot.waitUntil(lambda: lead.status()["authority"]["requested_by"] == win.station, timeout=10000)
        assert lead.hand_over()["ok"]
        # the watcher already shows the timeline the conductor loaded (it asked for it) ...
        assert win.sequence.timeline.count() == _hotfire_steps() and win.sequence.title.text() == lead.status()["sequence"]
        qtbot.waitUntil(lambda: win.authority_btn.text() == "Authority: this console", timeout=10000)
        # ... so after the hand-over it can ARM without reloading
        qtbot.waitUntil(lambda: win.arm_btn.isEnabled(), timeout=15000)
        r = lead.arm()
        assert not r["ok"] and f"command authority is held by {win.station}" in r["refused"]
    finally:
        lead.close()


def test_the_cursor_readout_gives_units(window, qtbot) -> None:
    import numpy as np

    from hil.service.meta import stand_meta
    from hil.stand import load_stand

    meta = stand_meta(load_stand(TQ12), (), 1000.0)
    window.model.configure(meta)
    window.plots.configure()
    n = 2000
    rows = np.zeros((n, len(window.model.columns)))
    rows[:, 0] = np.arange(n) / 1000.0
    rows[:, window.model.col("pc")] = 9.87
    window.model.add_rows(rows)
    window.plots.refresh()
    pc = window.plots.plots["pc"]
    qtbot.waitUntil(lambda: pc.vb.sceneBoundingRect().width() > 100, timeout=5000)
    window.plots._mouse((pc.vb.sceneBoundingRect().center(),))  # noqa: SLF001 (the mouse, without a mouse)
    assert "pc=9.870 MPa" in window.plots.readout.text() and "pc_setpoint=" in window.plots.readout.text()


def test_the_p_and_id_fills_valves_by_state_marks_disagreement_and_shows_sensor_values(window) -> None:
    from hil.service.meta import stand_meta
    from hil.stand import load_stand

    pid = window.pid
    pid.configure(stand_meta(load_stand(TQ12), (), 1000.0))
    pid.update_values({"cmd.ox_main": 100.0, "ox_main_pos": 100.0, "cmd.fuel_main": 100.0, "fuel_main_pos": 40.0,
                       "cmd.ox_iso": 0.0, "ox_iso_pos": 0.0, "pc": 9.98, "pc_b": 10.02, "p_inj_ox": 12.1}, "RUNNING")
    ox, fuel, iso = pid.symbols["ox_main"], pid.symbols["fuel_main"], pid.symbols["ox_iso"]
    assert ox.brush().color().name() == "#2e7d32" and iso.brush().color().name() == "#9e9e9e"  # open / closed
    assert fuel.value.text().startswith("! OPEN (at 40 %)") and fuel.pen().color().name() == "#c62828"
    assert not ox.value.text().startswith("!") and ox.pen().color().name() != "#c62828"
    assert pid.bubbles["pc"][1].text() == "pc 9.98 MPa" and "12.1" in pid.loose["p_inj_ox"].text()
    assert pid.symbols["chamber"].value.text() == "Pc 9.98 MPa"


def test_the_operator_arranges_plots_kept_per_stand_and_used_in_replay(window, qtbot, tmp_path, monkeypatch) -> None:
    """Add and remove plots, choose their channels, get them back next time (a new console) and
    in replay; chamber pressure stays first with its command line and redline band."""
    from hil.gui.plot_dialog import PlotLayoutDialog
    from hil.service.meta import stand_meta
    from hil.stand import load_stand

    monkeypatch.setenv("HIL_CONFIG_DIR", str(tmp_path / "cfg"))
    meta = stand_meta(load_stand(TQ12), load_stand(TQ12).redlines, 1000.0)
    window.model.configure(meta)
    window.plots.configure()
    assert [sp["key"] for sp in window.plots.specs] == ["thrust", "pressures", "valves"]  # the stand file's
    # the dialog, driven as an operator would: remove one, add one, tick channels, rename
    cols = [c for c in window.model.columns if c not in ("time", "state", "step")]
    dialog = PlotLayoutDialog(window, window.plots.specs, cols)
    dialog.plot_list.setCurrentRow(1)
    dialog.remove_plot()  # "pressures" gone
    dialog.add_plot()
    dialog.title.setText("Turbopump")
    dialog.title.textEdited.emit("Turbopump")
    dialog.check("pump_speed")
    dialog.check("cmd.gg")
    window.plots.set_layout(dialog.specs)
    titles = [window.plots.plots[k].getAxis("left").title for k in window.plots.plots]
    assert titles == ["Chamber pressure [MPa]", "Thrust [kN]", "Valves: command vs position [%]", "Turbopump"]
    turbo = next(sp for sp in window.plots.specs if sp["title"] == "Turbopump")
    assert turbo["channels"] == ["pump_speed", "cmd.gg"]
    pc_items = {c.name() for c in window.plots.plots["pc"].listDataItems() if c.name()}
    assert {"pc", "commanded Pc", "redline band"} <= pc_items
    # a new console for the same stand gets the layout back
    from hil.gui.main_window import MainWindow

    other = MainWindow()
    qtbot.addWidget(other)
    other.model.configure(meta)
    other.plots.configure()
    assert [sp["title"] for sp in other.plots.specs] == ["Thrust [kN]", "Valves: command vs position [%]", "Turbopump"]
    # and so does a replay of a run on that stand
    res = run(RunOptions(sequence=str(SEQ / "tq12_hotfire_100.toml"), stand=str(TQ12), sim="lockstep",
                         out=str(tmp_path / "run"), progress=False))
    other.open_replay(str(tmp_path / "run"))
    assert "Turbopump" in [sp["title"] for sp in other.plots.specs]
    x, y = other.plots.curves["pump_speed"].getData()
    assert res.exit_code == 0 and len(x) > 100 and max(y) > 1000  # the pump spun up in the burn


def test_checkout_from_the_console_refuses_a_mis_zeroed_transducer_and_flags_a_slow_valve(window, qtbot,
                                                                                         tmp_path) -> None:
    """The Checkout tab against a real controller whose simulated stand has pc_b reading 0.3 MPa
    high and ox_main stroking 1.5x slow: each button asks first (nothing is sent when the
    operator cancels), the zero is refused with pc_b named and no zero file written, the valve
    timing flags ox_main SLOW and passes the others; the report and the record are shown."""
    import os
    import shutil

    from hil.gui.app import EmbeddedController
    from hil.stand.zero import zero_path

    stands = tmp_path / "stands"
    shutil.copytree(ROOT / "configs" / "stands", stands)
    stand = stands / "sim_tq12.toml"
    ctl = EmbeddedController(stand, out=tmp_path / "session", faults=(
        "sensor_offset:channel=pc_b,offset=0.3@0", "valve_slow:valve=ox_main,factor=1.5@0"))
    try:
        win, panel = window, window.checkout
        win.connect_controller(ctl.rep, ctl.pub)
        qtbot.waitUntil(lambda: win.model.connected and panel.zero_btn.isEnabled(), timeout=30000)
        assert panel.valve_names == ["ox_main", "fuel_main", "gg"] and "pc_b" in panel.zero_names
        asked: list[str] = []
        win.confirm_fn = lambda text: asked.append(text) or False  # the operator cancels: nothing is sent
        panel.zero_btn.click()
        assert "VENTED" in asked[-1] and "pc_b" in asked[-1] and panel.running is None
        win.confirm_fn = lambda text: asked.append(text) or True
        panel.seconds.setValue(1.0)
        panel.zero_btn.click()
        qtbot.waitUntil(lambda: "FAILED" in panel.outcome.text(), timeout=30000)
        import re

        assert re.search(r"pc_b: offset \+0\.(29|30)\d* MPa is beyond its zero limit", panel.report.toPlainText())
        assert not zero_path(stand).exists() and "1 s vented" in "\n".join(panel.lines)
        # valve timing: refused while the isolation valves are still moving after start-up, then runs
        while True:
            qtbot.waitUntil(lambda: panel.valves_btn.isEnabled(), timeout=5000)  # the status after the zero
            panel.valves_btn.click()
            assert "Cycle ox_main, fuel_main, gg open and closed" in asked[-1]
            qtbot.waitUntil(lambda: panel.running is not None or "REFUSED checkout" in win.message.text(),
                            timeout=10000)
            if panel.running is not None:
                break
            assert "isolation valves must be closed" in win.message.text()
            win.message.setText("")
        qtbot.waitUntil(lambda: not panel.zero_btn.isEnabled() and panel.cancel_btn.isEnabled(), timeout=5000)
        assert "a checkout is running (valves)" in panel.zero_btn.toolTip() and "valves:" in panel.phase.text()
        qtbot.waitUntil(lambda: "valves:" in panel.outcome.text(), timeout=60000)
        report = "\n".join(panel.lines)
        assert "FAILED" in panel.outcome.text() and "| ox_main |" in report and "SLOW" in report
        assert "ox_main\n" in panel.report.toPlainText()  # shown as a table, not as Markdown source
        assert report.count("| ok |") == 2
        qtbot.waitUntil(lambda: panel.zero_btn.isEnabled(), timeout=5000)  # the next status: nothing running
        record = panel.outcome.text().split("record ")[-1]
        assert panel.outcome.toolTip() == str(tmp_path / record) and (tmp_path / record / "checkout.md").is_file()
        win.tabs.setCurrentWidget(panel)
        shot = win.grab()
        assert shot.save(str(tmp_path / "checkout.png"))
        if os.environ.get("UPDATE_SCREENSHOT"):  # UPDATE_SCREENSHOT=1 pytest tests/test_gui.py -k checkout
            shot.save(str(ROOT / "docs" / "checkout.png"))
    finally:
        win.disconnect_controller()
        ctl.stop()


def test_t0_on_the_axis_is_exact_once_reached(qtbot) -> None:
    """While the count runs, the projected T-0 jitters by float rounding (< 1 ms) and the axis
    does not follow; once T-0 is reached the axis and the lines take it exactly, so the tick
    there reads "T0" (CI once saw the axis keep an older projection: the GO/NO-GO test timed out)."""
    import numpy as np
    import pyqtgraph as pg

    from hil.gui.seqclock import SeqClock
    from hil.gui.taxis import TAxis, TMarks

    axis = TAxis()
    plot = pg.PlotItem(axisItems={"bottom": axis})
    marks, clock = TMarks({"pc": plot}, axis), SeqClock()
    t = np.arange(0.0, 3.0, 0.001)
    s = t - 2.0  # T-0 reached at t = 2 s on the loop's clock ...
    s[:1500] += 0.0004  # ... after a projection 0.4 ms earlier (any sub-millisecond move will do)
    clock.add(t[:1500], s[:1500])  # counting: T-0 projected at 1.9996 s
    marks.update(clock, float(t[1499]))
    assert not clock.fixed and axis.t0 == pytest.approx(1.9996, abs=1e-9)
    clock.add(t[1500:], s[1500:])  # T-0 reached: 2.0 s, 0.4 ms from the projection
    marks.update(clock, float(t[-1]))
    assert clock.fixed and axis.t0 == clock.t0 == pytest.approx(2.0, abs=1e-9)
    assert all(line.value() == clock.t0 for line in marks.lines)
    assert axis.tickStrings([clock.t0 - 1.0, clock.t0, clock.t0 + 1.0], 1.0, 1.0) == ["T-1", "T0", "T+1"]
