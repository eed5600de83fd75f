"""The operator in the loop, headless: GO/NO-GO prompts hold the count until PROCEED, an ABORT
answer or a timeout aborts, the operator's HOLD stops the count before T-0 and is refused
after it, and a run with nobody to answer is refused before anything starts. Lockstep, the
shipped GO/NO-GO variant of the three-burn sequence; answers typed on a pipe standing in for
the terminal go through the same reader thread a terminal does."""

from __future__ import annotations

import io
import json
import os

import pytest
from conftest import ROOT, TQ12

from hil.errors import Refused, SequenceInvalid
from hil.runner import EXIT_ABORTED, EXIT_INVALID, EXIT_OK, RunOptions, run
from hil.sequence import parse_sequence
from hil.stand import load_stand

GONOGO = ROOT / "configs" / "sequences" / "tq12_three_burn_gonogo.toml"

pytestmark = pytest.mark.timeout(180)


def _events(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def _variant(tmp_path, old: str, new: str, count: int = 1):
    text = GONOGO.read_text()
    assert old in text
    path = tmp_path / "variant.toml"
    path.write_text(text.replace(old, new, count))
    return path


def test_a_prompt_holds_the_count_until_the_operator_types_proceed(tmp_path) -> None:
    r, w = os.pipe()
    typed = os.fdopen(w, "w")
    asked: dict[int, float] = {}

    def operator(ctl) -> None:
        p = ctl.sequencer.pending()
        if p is None:
            return
        asked.setdefault(p["index"], ctl.loop.t)
        if ctl.loop.t - asked[p["index"]] >= 0.2 and not typed.closed and len(asked) == 1:
            typed.write("proceed\n")  # the operator thinks for 0.2 s, then answers on the terminal
            typed.flush()
        elif len(asked) > 1 and not typed.closed:
            typed.write("p\n")
            typed.flush()
            if len(asked) == 3:
                typed.close()

    with os.fdopen(r) as answers:
        res = run(RunOptions(sequence=str(GONOGO), stand=str(TQ12), sim="lockstep", out=str(tmp_path / "r"),
                             progress=False, answers=answers, on_cycle=operator))
    assert res.exit_code == EXIT_OK, res.summary.get("abort_reason")
    ev = _events(res.run_dir)
    prompts = [e for e in ev if e["kind"] == "prompt"]
    answered = [e for e in ev if e["kind"] == "prompt_answered"]
    assert len(prompts) == 3 and [e["answer"] for e in answered] == ["proceed"] * 3
    assert all("at the terminal" in e["client"] for e in answered)
    assert answered[0]["waited_s"] >= 0.2
    # sequence time stood still while the question was open: the burn-1 block (T-1) came one
    # second of sequence time after the prompt (T-2) plus the time it took to answer
    first = prompts[0]
    start = next(e for e in ev if e["kind"] == "step" and e.get("label") == "chamber down (relight_below)")
    assert start["t"] - first["t"] == pytest.approx(1.0 + answered[0]["waited_s"], abs=0.003)
    _rows_carry_the_sequence_clock(res.run_dir, ev)


def _rows_carry_the_sequence_clock(run_dir, ev) -> None:
    """Every recorded row carries T-time: it stands still through each prompt and runs with the
    loop otherwise; the console's clock finds T-0 and the prompts' stops from the rows alone."""
    import numpy as np

    from hil.gui.seqclock import SeqClock
    from hil.record.recorder import read_run

    table = read_run(run_dir).table
    t, s = table.column("time").to_numpy(), table.column("t_seq").to_numpy()
    run = np.isfinite(s)
    assert run.any() and np.isnan(s[0])  # no sequence before START
    first = int(np.flatnonzero(run)[0])
    start = next(e for e in ev if e["kind"] == "sequence_start")
    assert s[first] == pytest.approx(start["t_seq"], abs=2e-3)
    prompts = [e for e in ev if e["kind"] == "prompt"]
    answers = [e for e in ev if e["kind"] == "prompt_answered"]
    for p, a in zip(prompts, answers):
        inside = (t >= p["t"]) & (t < a["t"])
        held = s[inside]
        assert inside.sum() >= 1 and np.all(held == held[0])  # the clock stood still ...
        assert held[0] == pytest.approx(p["t_seq"], abs=1e-4)  # ... where the prompt stopped it
    steps = np.diff(s[run]) - np.diff(t[run])
    ran = np.diff(s[run]) > 0
    assert np.abs(steps[ran]).max() < 1e-9  # ... and otherwise ran with the loop
    for chunk in (37, len(t)):  # live batches or a whole recording: the same answer
        clock = SeqClock()
        for k in range(0, len(t), chunk):
            clock.add(t[k:k + chunk], s[k:k + chunk])
        zero = int(np.flatnonzero(run & (s >= 0))[0])
        assert clock.fixed and clock.t0 == pytest.approx(t[zero] - s[zero], abs=1e-9)
        stops = clock.shown_stops(t[-1])  # those long enough to shade (not the prompts answered at once)
        for p, ans in zip(prompts, answers):
            if ans["waited_s"] >= 0.1:
                assert any(ts == pytest.approx(p["t_seq"], abs=1e-4) and b - a == pytest.approx(ans["waited_s"], abs=2e-3)
                           for a, b, ts in stops)
        waits = [e["t_seq"] for e in ev if e["kind"] == "step" and e["what"].startswith(("prompt", "wait", "hold"))]
        assert len(stops) >= 2 and all(any(ts == pytest.approx(w, abs=1e-4) for w in waits) for _, _, ts in stops)


def test_no_go_aborts_the_run_with_who_said_so(tmp_path) -> None:
    def operator(ctl) -> None:
        p = ctl.sequencer.pending()
        if p is not None and p["index"] > 1:  # GO for burn 1, NO-GO for burn 2
            ctl.answer(p["index"], "abort", "flight director")
        elif p is not None:
            ctl.answer(p["index"], "proceed", "flight director")

    res = run(RunOptions(sequence=str(GONOGO), stand=str(TQ12), sim="lockstep", out=str(tmp_path / "r"),
                         progress=False, answers=io.StringIO(""), on_cycle=operator))
    assert res.exit_code == EXIT_ABORTED
    reason = res.summary["abort_reason"]
    assert "operator answered ABORT to prompt 'GO/NO-GO for burn 2" in reason and "flight director" in reason
    assert res.summary["final_state"] == "SAFE" and len(res.summary["burns"]) == 1  # burn 2 never started


def test_an_unanswered_prompt_aborts_or_proceeds_as_the_file_says(tmp_path) -> None:
    short = _variant(tmp_path, 'timeout = 120.0\nlabel = "poll: burn 1"', 'timeout = 0.3\nlabel = "poll: burn 1"')
    res = run(RunOptions(sequence=str(short), stand=str(TQ12), sim="lockstep", out=str(tmp_path / "a"),
                         progress=False, answers=io.StringIO("")))
    assert res.exit_code == EXIT_ABORTED
    assert "no answer to prompt 'GO/NO-GO for burn 1" in res.summary["abort_reason"] and "within 0.3 s" in \
        res.summary["abort_reason"]
    assert not res.summary["burns"]
    go_on = tmp_path / "proceed.toml"
    go_on.write_text(short.read_text().replace('timeout = 0.3', 'timeout = 0.3\non_timeout = "proceed"'))
    res = run(RunOptions(sequence=str(go_on), stand=str(TQ12), sim="lockstep", out=str(tmp_path / "p"),
                         progress=False, auto_proceed=False, answers=io.StringIO(""),
                         on_cycle=lambda ctl: (p := ctl.sequencer.pending()) and p["index"] > 1
                         and ctl.answer(p["index"], "proceed", "test")))
    assert res.exit_code == EXIT_OK, res.summary.get("abort_reason")
    timeout = [e for e in _events(res.run_dir) if e["kind"] == "prompt_timeout"]
    assert len(timeout) == 1 and timeout[0]["then"] == "proceed" and timeout[0]["waited_s"] >= 0.3


def test_hold_stops_the_count_before_t0_and_is_refused_after(tmp_path) -> None:
    seen: dict[str, object] = {}

    def operator(ctl) -> None:
        seq = ctl.sequencer
        if "held_at" not in seen and seq.seq_t <= -2.5:
            ctl.hold("test conductor")
            seen["held_at"], seen["t_seq"], seen["t"] = ctl.loop.t, seq.seq_t, ctl.loop.t
        elif "held_at" in seen and "resumed" not in seen:
            assert seq.seq_t == seen["t_seq"]  # the clock stands still
            if ctl.loop.t - seen["t"] >= 0.5:
                with pytest.raises(Refused, match="already held"):
                    ctl.hold("someone else")
                ctl.resume("test conductor")
                seen["resumed"] = ctl.loop.t
        if "after" not in seen and seq.seq_t >= 0.5:
            with pytest.raises(Refused, match=r"a hold is refused after T-0 \(now T\+0\.5"):
                ctl.hold("test conductor")
            seen["after"] = True

    res = run(RunOptions(sequence=str(GONOGO), stand=str(TQ12), sim="lockstep", out=str(tmp_path / "r"),
                         progress=False, auto_proceed=True, on_cycle=operator))
    assert res.exit_code == EXIT_OK and seen.get("after") and "resumed" in seen
    ev = _events(res.run_dir)
    hold = next(e for e in ev if e["kind"] == "hold")
    resume = next(e for e in ev if e["kind"] == "resume")
    assert hold["client"] == "test conductor" and resume["held_s"] >= 0.5
    answered = [e for e in ev if e["kind"] == "prompt_answered"]
    assert [e["client"] for e in answered] == ["auto-proceed (hil run --auto-proceed)"] * 3


def test_answers_must_name_the_pending_prompt(tmp_path) -> None:
    tried: list[str] = []

    def operator(ctl) -> None:
        p = ctl.sequencer.pending()
        if p is None or tried:
            return
        with pytest.raises(Refused, match="is not the one pending"):
            ctl.answer(p["index"] + 1, "proceed", "console")  # a console that is behind or ahead
        ctl.answer(p["index"], "proceed", "console")
        with pytest.raises(Refused, match="already answered"):
            ctl.answer(p["index"], "proceed", "second console")
        with pytest.raises(Refused, match="must be proceed or abort"):
            ctl.answer(p["index"], "maybe", "console")
        tried.append("done")

    res = run(RunOptions(sequence=str(GONOGO), stand=str(TQ12), sim="lockstep", out=str(tmp_path / "r"),
                         progress=False, answers=io.StringIO(""), on_cycle=operator, max_seconds=3.0))
    assert tried and tried[-1] == "done"
    assert res.exit_code == EXIT_ABORTED  # the later prompts went unanswered within max_seconds


def test_nobody_to_answer_is_refused_before_anything_starts(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal
    res = run(RunOptions(sequence=str(GONOGO), stand=str(TQ12), sim="lockstep", out=str(tmp_path / "r"),
                         progress=False))
    assert res.exit_code == EXIT_INVALID and res.run_dir is None
    err = capsys.readouterr().err
    assert "asks the operator 3 question(s)" in err and "--auto-proceed" in err


def test_a_prompt_inside_a_burn_is_refused_with_its_line() -> None:
    text = GONOGO.read_text().replace('''[[steps]]
at = "T+19.0"''', '''[[steps]]
at = "T+18.0"
prompt = "continue the entry burn?"

[[steps]]
at = "T+19.0"''')
    with pytest.raises(SequenceInvalid) as exc:
        parse_sequence(text, load_stand(TQ12), "burning.toml")
    msg = "\n".join(str(e) for e in exc.value.errors)
    assert "prompt at T+18 falls inside the burn that starts at T+16" in msg and "burning.toml:" in msg
