"""One run, one truth: each run's outcome and reasons come from that run alone.

A crew aborts a run, acknowledges, and runs the next one to completion: that run's summary.json,
its replay and its `hil report` page must say "completed", not the earlier run's abort; a NO-GO
answer or a fault in a later run records its own reason. Lockstep through a Controller recording
the way `hil serve` does (hil/record/runs.py), and through a real `hil serve` child over TCP.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from conftest import LAB, ROOT, TQ12

from firmware_sim.faults import parse_fault, set_fault
from hil.controller import Controller
from hil.links import open_link
from hil.record.recorder import new_recorder, read_summary
from hil.record.runs import RunRecorder
from hil.record.summary import run_outcome
from hil.safety import State
from hil.sequence.engine import RunState
from hil.stand import load_stand

pytestmark = pytest.mark.timeout(240)

SHORT = """
[sequence]
name = "short purge"
stand = "{stand}"
cold_flow = true

[[steps]]
at = "T+0"
set = {{ purge = 1 }}
{prompt}
[[steps]]
at = "T+0.6"
set = {{ purge = 0 }}
"""
PROMPT = """
[[steps]]
at = "T+0.3"
prompt = "GO/NO-GO?"
timeout = 30
"""


def short_sequence(tmp_path: Path, stand: str = "sim-lab", prompt: bool = False) -> Path:
    p = tmp_path / ("short_prompt.toml" if prompt else "short.toml")
    p.write_text(SHORT.format(stand=stand, prompt=PROMPT if prompt else ""))
    return p


class ServiceRig:
    """A lockstep controller recording as `hil serve` does: a session log and a directory per run."""

    def __init__(self, tmp_path: Path) -> None:
        stand = load_stand(LAB)
        self.link = open_link(stand, str(LAB), "lockstep")
        made: list[RunRecorder] = []

        def run_recorder(door: Controller) -> RunRecorder:
            made.append(RunRecorder(new_recorder(tmp_path / "session", stand), tmp_path / "runs", stand, LAB, door))
            return made[0]

        self.ctl = Controller(stand, self.link.transports, self.link.clock, run_recorder=run_recorder, stand_path=LAB)
        self.rec = made[0]
        self.ctl.loop.start()
        self.step_for(0.3)

    def step_for(self, seconds: float) -> None:
        t_end = self.ctl.loop.t + seconds
        while self.ctl.loop.t < t_end:
            self.ctl.loop.step()

    def step_until(self, cond, limit_s: float = 30.0) -> None:
        t_end = self.ctl.loop.t + limit_s
        while not cond():
            assert self.ctl.loop.t < t_end, f"not reached in {limit_s} s: state {self.ctl.supervisor.state.name}"
            self.ctl.loop.step()

    def arm_and_start(self) -> None:
        self.step_until(lambda: not self.ctl.arm_checks())  # the last run's purge may still run
        self.ctl.arm()
        self.ctl.start()

    def run_ended(self) -> bool:
        return self.rec.run is None and self.ctl.supervisor.state in (State.SAFE, State.FAULT)

    def close(self) -> None:
        if not self.rec.closed:
            self.rec.close()
            self.link.close()

    def summaries(self) -> list[dict]:
        self.close()
        return [read_summary(d) for d in self.rec.run_dirs]


@pytest.fixture
def rig(tmp_path):
    r = ServiceRig(tmp_path)
    yield r
    r.close()


def test_a_completed_run_after_an_acknowledged_abort_says_completed(rig, tmp_path) -> None:
    rig.ctl.load(short_sequence(tmp_path))
    rig.arm_and_start()
    rig.step_for(0.2)
    rig.ctl.abort("operator abort (console)", source="console")
    rig.step_until(rig.run_ended)
    rig.arm_and_start()  # the crew acknowledged; the next run goes to its end
    rig.step_until(lambda: rig.ctl.sequencer.state != RunState.RUNNING and rig.run_ended())
    first, second = rig.summaries()
    assert first["outcome"] == "aborted" and first["abort_reason"] == "operator abort (console)"
    assert second["outcome"] == "completed", second
    assert second["abort_reason"] is None and second["fault_reason"] is None
    assert rig.ctl.snapshot().abort_reason == ""  # the status tells the last run's truth too


def test_a_no_go_after_an_earlier_abort_records_its_own_reason(rig, tmp_path) -> None:
    rig.ctl.load(short_sequence(tmp_path, prompt=True))
    rig.arm_and_start()
    rig.step_for(0.1)
    rig.ctl.abort("operator abort (console)", source="console")
    rig.step_until(rig.run_ended)
    rig.arm_and_start()
    rig.step_until(lambda: rig.ctl.sequencer.pending() is not None)
    rig.ctl.answer(rig.ctl.sequencer.pending()["index"], "abort", "console flight@pc")
    rig.step_until(rig.run_ended)
    first, second = rig.summaries()
    assert first["abort_reason"] == "operator abort (console)"
    assert second["outcome"] == "aborted"
    assert second["abort_reason"].startswith("operator answered ABORT to prompt 'GO/NO-GO?'"), second["abort_reason"]
    assert "console flight@pc" in second["abort_reason"]


def test_a_fault_after_an_abort_is_recorded_as_that_fault_and_the_run_after_its_reset_completes(rig, tmp_path) -> None:
    rig.ctl.load(short_sequence(tmp_path))
    rig.arm_and_start()
    rig.step_for(0.1)
    rig.ctl.abort("operator abort (console)", source="console")
    rig.step_until(rig.run_ended)
    rig.arm_and_start()
    rig.step_for(0.2)
    silent = parse_fault("stop_answering@0")
    set_fault(rig.link.firmware, silent, True)  # the stand stops answering mid-run
    rig.step_until(rig.run_ended)
    set_fault(rig.link.firmware, silent, False)
    rig.step_until(lambda: rig.ctl.supervisor.comm_ok and not rig.ctl.supervisor.safing.active)
    rig.ctl.reset()
    rig.arm_and_start()
    rig.step_until(lambda: rig.ctl.sequencer.state != RunState.RUNNING and rig.run_ended())
    aborted, faulted, completed = rig.summaries()
    assert aborted["outcome"] == "aborted"
    assert faulted["outcome"] == "fault" and faulted["fault_reason"].startswith("communication lost")
    assert faulted["abort_reason"] == faulted["fault_reason"]  # not the earlier run's abort
    assert completed["outcome"] == "completed" and completed["abort_reason"] is None


def test_the_outcome_is_a_function_of_the_runs_own_events() -> None:
    ev = [{"kind": "state", "to": "ARMED"}, {"kind": "abort", "state": "SAFE", "reason": "button in SAFE"},
          {"kind": "abort", "state": "RUNNING", "reason": "first"}, {"kind": "abort", "state": "ABORTING",
                                                                     "reason": "second press"}]
    assert run_outcome(ev)["abort_reason"] == "first" and run_outcome(ev)["outcome"] == "aborted"
    later = [*ev, {"kind": "state", "to": "SAFE"}, {"kind": "state", "to": "ARMED"},
             {"kind": "redline", "redline": "pc_high"}, {"kind": "fault", "reason": "comm lost", "state": "RUNNING"}]
    assert run_outcome(later) == {"outcome": "fault", "abort_reason": "comm lost", "fault_reason": "comm lost",
                                  "redlines_tripped": ["pc_high"]}
    assert run_outcome([{"kind": "state", "to": "ARMED"}])["outcome"] == "completed"


@pytest.mark.slow
def test_hil_serve_records_a_completed_run_after_an_abort_as_completed_and_report_and_replay_say_so(tmp_path) -> None:
    from hil.children import spawn
    from hil.record.report import report
    from hil.service.client import ControllerClient

    seq = short_sequence(tmp_path, stand="sim-tq12")
    child = spawn(["serve", "--stand", str(TQ12), "--sim", "tcp", "--rep", "tcp://127.0.0.1:0",
                   "--pub", "tcp://127.0.0.1:0", "--out", str(tmp_path / "session")], cwd=ROOT)
    client = ControllerClient(child.ready["rep"], child.ready["pub"], timeout_s=5, name="console test")
    try:
        def until(cond, timeout=60.0):
            deadline = time.monotonic() + timeout
            while not (last := cond()):
                assert time.monotonic() < deadline, "timed out"
            return last

        until(lambda: client.load(str(seq))["ok"])
        until(lambda: client.arm()["ok"])
        first = client.status()["run_dir"]
        assert client.start()["ok"]
        assert client.abort(reason="operator abort (console)")["ok"]
        until(lambda: client.status()["state"] == "SAFE")
        until(lambda: client.arm()["ok"])  # once the purge of the safing is over
        second = client.status()["run_dir"]
        assert second != first and client.start()["ok"]
        until(lambda: (Path(second) / "summary.json").exists())
    finally:
        client.close()
        child.stop(signal.SIGTERM, timeout=30)  # and its pipes closed
    assert read_summary(first)["outcome"] == "aborted"
    s = read_summary(second)
    assert s["outcome"] == "completed" and s["abort_reason"] is None, s
    html = report(Path(second)).read_text()
    assert "Outcome: <span class='ok'>completed</span>;" in html and "operator abort" not in html
    from hil.gui.replay import load_replay  # the console's replay of it (no Qt needed to load)

    shown = load_replay(second)["outcome"]
    assert "completed" in shown and "abort" not in shown


def test_each_runs_redline_margins_are_measured_in_that_run_alone(rig, tmp_path) -> None:
    """Two runs of one loaded sequence in one service: the second run's closest approaches are
    its own (they used to carry on from the first, whose Pc was noisier or closer)."""
    rig.ctl.load(short_sequence(tmp_path))
    starts = []
    for _ in range(2):
        rig.arm_and_start()
        starts.append(rig.ctl.loop.t)
        rig.step_until(lambda: rig.ctl.sequencer.state != RunState.RUNNING and rig.run_ended())
    first, second = rig.summaries()
    assert first["redline_margins"] and second["redline_margins"]
    assert all(m["t"] < starts[1] for m in first["redline_margins"].values())
    assert all(m["t"] >= starts[1] - 0.01 for m in second["redline_margins"].values()), second["redline_margins"]


def test_a_run_armed_in_the_cycle_the_last_one_ended_gets_its_own_directory(rig, tmp_path) -> None:
    """A client that arms between the SAFE transition and that cycle's row (the service answers
    commands mid-cycle; seen over TCP on the TQ-12 stand) must not lose its run: the ended run
    closes on the rows it has, as SAFE, and the new one opens with its own directory at once.
    The recorder is given the two state events as the loop gives them, in one cycle."""
    rig.ctl.load(short_sequence(tmp_path))
    rig.arm_and_start()
    rig.step_for(0.05)
    first = rig.rec.current
    assert first is not None
    t = rig.ctl.snapshot(detail=False).t
    rig.rec.event(t, "state", to="SAFE")
    rig.rec.event(t, "state", to="ARMED")
    second = rig.rec.current
    assert second is not None and second != first and rig.rec.run_dirs == [first, second]
    rig.ctl.abort("end of the test", source="operator")
    rig.step_until(rig.run_ended)
    ended = rig.summaries()[0]
    assert ended["final_state"] == "SAFE" and ended["samples"] > 0


def test_a_checkout_begun_in_the_cycle_the_last_run_ended_gets_its_record(rig, tmp_path) -> None:
    """The same race for a checkout: begun between the SAFE transition and that cycle's row, its
    record directory was refused (None: its checkout.md, .json and summary never written)."""
    rig.ctl.load(short_sequence(tmp_path))
    rig.arm_and_start()
    rig.step_for(0.05)
    first = rig.rec.current
    rig.rec.event(rig.ctl.snapshot(detail=False).t, "state", to="SAFE")
    record = rig.rec.open_record("checkout_zero")
    assert record is not None and record != first and rig.rec.run_dirs == [first, record]


def test_an_events_file_that_cannot_be_written_does_not_stop_an_abort(rig, tmp_path) -> None:
    """The event bus writes events.jsonl before it tells anyone, and the supervisor logs the
    abort before it changes state: a failed write (a full disk; here the file closed under the
    recorder) raised out of the abort and the stand was never safed. Now the abort goes on, and
    the failure is said when the recording closes."""
    rig.ctl.load(short_sequence(tmp_path))
    rig.arm_and_start()
    rig.step_for(0.05)
    rig.rec.session._events.close()  # noqa: SLF001 (the session log's file, as a dead disk leaves it)
    rig.ctl.abort("test: abort with the disk gone", source="operator")
    assert rig.ctl.snapshot(detail=False).state.name == "ABORTING"
    rig.step_until(lambda: rig.ctl.snapshot(detail=False).state.name == "SAFE")
    with pytest.raises(RuntimeError, match="event.s. not written"):
        rig.rec.close()


def test_a_checkout_record_keeps_its_result_when_the_stand_faults_during_it(rig) -> None:
    """A FAULT while a checkout's record is open used to close that record at the next row, as
    if it were a run ending; the desk's result then reached no summary.json. The record is the
    checkout's to close: its summary carries the result it was closed with."""
    record = rig.rec.open_record("checkout_zero")
    assert record is not None
    rig.rec.event(rig.ctl.snapshot(detail=False).t, "state", to="FAULT")
    rig.step_for(0.01)
    assert rig.rec.current == record  # still open: the checkout has not ended
    rig.rec.close_record({"outcome": "checkout failed", "why": "the stand left SAFE (FAULT)"})
    (summary,) = rig.summaries()
    assert summary["outcome"] == "checkout failed" and summary["why"] == "the stand left SAFE (FAULT)"
