"""What the console tells a crew between runs (docs/console.md): every abort or fault is its own
red bar, acknowledged on its own, and ARM waits for it; a completed run is announced from its
summary; a command's answer does not outlive the state it was about."""

from __future__ import annotations

import pytest
from conftest import LAB, ROOT

from hil.gui.main_window import MainWindow
from hil.runner import RunOptions, run

SEQ = ROOT / "configs" / "sequences"


@pytest.fixture
def win(qtbot):
    w = MainWindow(station="pad-A")
    qtbot.addWidget(w)
    w.show()
    return w


def test_each_abort_shows_its_own_bar_and_arm_waits_for_its_acknowledgement(win) -> None:
    bar = win.alarm_bar
    win.model.connected, win.model.status = True, {"state": "SAFE"}
    win.sequence.steps = [{"at": 0.0, "what": "set purge=1", "line": 3, "label": ""}]
    win.tick()
    assert win.arm_btn.isEnabled() and not bar.isVisible()
    for reason in ("operator abort (station pad-B)", "operator abort (station pad-B)",
                   "operator answered ABORT to prompt 'GO/NO-GO for burn 2'", "redline pc_high: 10.6 > max 10.5"):
        bar.on_event({"kind": "state", "frm": "RUNNING", "to": "ABORTING", "reason": reason})
        win.tick()
        assert bar.isVisible() and bar.text.text() == f"ABORTED: {reason}"  # the same words again: shown again
        assert not win.arm_btn.isEnabled() and win.arm_btn.toolTip() == "ARM: acknowledge the abort/fault bar first"
        bar.ack_btn.click()
        win.tick()
        assert not bar.isVisible() and win.arm_btn.isEnabled()
    bar.on_event({"kind": "state", "frm": "SAFE", "to": "FAULT", "reason": "firmware safed the stand (watchdog)"})
    win.tick()
    assert bar.text.text() == "FAULT: firmware safed the stand (watchdog)"
    # a state change that is no abort raises nothing
    bar.ack_btn.click()
    bar.on_event({"kind": "state", "frm": "FAULT", "to": "SAFE", "reason": "operator reset"})
    win.tick()
    assert not bar.isVisible()


def test_the_message_line_does_not_outlive_its_state(win) -> None:
    win.model.status = {"state": "RUNNING"}
    win.show_message("resume: ok → RUNNING")
    win.tick()
    assert win.message.text() == "resume: ok → RUNNING"
    win.model.status = {"state": "FAULT", "fault_reason": "communication lost"}
    win.tick()
    assert win.message.text() == ""
    win.show_message("REFUSED reset: cannot reset: no communication with the stand", error=True)
    win.tick()
    assert "REFUSED reset" in win.message.text()  # said in this state: it stays


def test_a_completed_run_is_announced_from_its_summary(win, qtbot, tmp_path) -> None:
    res = run(RunOptions(sequence=str(SEQ / "lab_relight.toml"), stand=str(LAB), sim="lockstep",
                         out=str(tmp_path / "run"), progress=False))
    assert res.exit_code == 0
    win.model.status = {"state": "RUNNING", "run_dir": str(tmp_path / "run")}
    win.run_notice.on_status(win.model.status)
    win.tick()
    win.run_notice.on_event({"kind": "sequence_done", "t_seq": 12.0})
    win.tick()
    assert "run complete" not in win.message.text()  # not before the stand is SAFE again
    win.model.status = {"state": "SAFE", "run_dir": None}
    win.run_notice.on_status(win.model.status)
    win.tick()
    n = len(res.summary["burns"])
    assert win.message.text() == f"run complete: {n} burns, outcome {res.summary['outcome']} (run)"
    assert res.summary["outcome"] == "completed" and n >= 1


def test_idle_sensor_disqualify_requalify_pairs_fold_but_not_during_a_run(win) -> None:
    log = win.events
    for k in range(40):  # an idle stand, a transducer flickering at its valid-range edge
        log.add({"t": 1.0 + k, "kind": ("sensor_disqualified", "sensor_requalified")[k % 2], "channel": "p_purge",
                 "reason": "reading -0.01 MPa is outside its valid range", "wall": "2026-12-07T04:00:00"})
    lines = log.texts()
    assert len(lines) == 1 and "sensor_disqualified ×20, sensor_requalified ×20" in lines[0]
    assert "(last: p_purge)" in lines[0]
    log.add({"t": 50.0, "kind": "sensor_disqualified", "channel": "pc_b", "t_seq": 4.2, "reason": "stale",
             "wall": "2026-12-07T04:00:50"})  # during a run: its own line
    assert len(log.texts()) == 2 and "channel=pc_b" in log.texts()[1]
