"""Rules around the start that the shipped sequences lean on (issue 24, "found on the way"):
a condition never holds on missing data, whatever the other side of ``and``/``or`` says; a
``run`` step inside a block is refused by ``hil check`` instead of silently dropped; HOLD is
refused while a chamber propellant valve is commanded open (the LOX lead before T-0); and a
wait that times out with ``on_timeout = "abort"`` aborts the run on its own, on a channel that
has nothing to do with ignition."""

from __future__ import annotations

import json
import math

import pytest
from conftest import LAB, ROOT

from hil.errors import Refused, SequenceInvalid
from hil.runner import EXIT_ABORTED, EXIT_OK, RunOptions, run
from hil.sequence import load_sequence
from hil.sequence.expr import compile_expr
from hil.stand import load_stand

SEQ = ROOT / "configs" / "sequences"
LAB_RELIGHT = SEQ / "lab_relight.toml"
pytestmark = pytest.mark.timeout(180)

T, F, U = 1.0, 0.0, math.nan  # true, false, unknown (a NaN operand)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


# Kleene's three-valued logic, written out: unknown stays unknown unless the other side decides
AND = {(T, T): T, (T, F): F, (T, U): U, (F, T): F, (F, F): F, (F, U): F, (U, T): U, (U, F): F, (U, U): U}
OR = {(T, T): T, (T, F): T, (T, U): T, (F, T): T, (F, F): F, (F, U): U, (U, T): T, (U, F): U, (U, U): U}


@pytest.mark.parametrize("a, b", [(a, b) for a in (T, F, U) for b in (T, F, U)])
def test_and_or_follow_three_valued_logic(a, b) -> None:
    env = {"x": a, "y": b}
    assert _same(compile_expr("x and y")(env), AND[(a, b)])
    assert _same(compile_expr("x or y")(env), OR[(a, b)])
    assert _same(compile_expr("not x")(env), {T: F, F: T}.get(a, U) if a == a else U)


def test_the_shipped_ignition_wait_never_holds_on_a_missing_transducer() -> None:
    """``pc > 1.0 and pc_b > 1.0`` (tq12 sequences): one transducer unread and the other
    burning is unknown, not true — the mutant "unknown and true is true" fails here."""
    wait = compile_expr("pc > 1.0 and pc_b > 1.0")
    assert wait.holds({"pc": 8.0, "pc_b": 8.0})
    assert not wait.holds({"pc": math.nan, "pc_b": 8.0})
    assert not wait.holds({"pc": 8.0, "pc_b": math.nan})
    assert not compile_expr("pc > 1.0 or pc_b > 1.0").holds({"pc": math.nan, "pc_b": 0.1})
    assert not compile_expr("not pc < 1.0").holds({"pc": math.nan})


def test_a_run_step_inside_a_block_is_refused_once_with_its_line(tmp_path) -> None:
    """A nested ``run = "shutdown"`` used to vanish (the refusal tested the wrong variable):
    the burn lost its own shutdown and ``hil check`` said OK."""
    text = LAB_RELIGHT.read_text()
    nested = text.replace('[blocks.burn]\nsteps = [\n',
                          '[blocks.stop]\nsteps = [{ at = 0.0, set = { ox_main = 0 } }]\n\n'
                          '[blocks.burn]\nsteps = [\n  { at = 3.4, run = "stop" },\n')
    assert nested != text
    path = tmp_path / "nested.toml"
    path.write_text(nested)
    with pytest.raises(SequenceInvalid) as info:
        load_sequence(path, load_stand(LAB))
    msgs = [str(e) for e in info.value.errors if "blocks cannot run other blocks" in str(e)]
    assert len(msgs) == 1, [str(e) for e in info.value.errors]  # once, not once per repeat of the block
    line = next(i + 1 for i, ln in enumerate(nested.splitlines()) if 'run = "stop"' in ln)
    assert f"line {line}" in msgs[0] or f":{line}" in msgs[0]


def test_hold_is_refused_during_the_lox_lead_and_accepted_before_it(tmp_path) -> None:
    """The lab relight opens the igniter at T-0.35 and LOX at T-0.05: a HOLD before the LOX
    lead is a hold; during it, it would hold the count with LOX flowing, unbounded."""
    seen: dict[str, object] = {}

    def operator(ctl) -> None:
        seq = ctl.sequencer
        if seq.state.name != "RUNNING":
            return
        if "early" not in seen and -0.9 <= seq.seq_t < -0.5:
            ctl.hold("conductor")  # only the pre-purge is on
            ctl.resume("conductor")
            seen["early"] = True
        if "lead" not in seen and -0.04 <= seq.seq_t < 0.0:
            assert ctl.commands.get("ox_main") > 0  # the lead is on
            with pytest.raises(Refused, match=r"chamber propellant valve is commanded open \(ox_main"):
                ctl.hold("conductor")
            seen["lead"] = True

    res = run(RunOptions(sequence=str(LAB_RELIGHT), stand=str(LAB), sim="lockstep", out=str(tmp_path / "r"),
                         progress=False, on_cycle=operator))
    assert res.exit_code == EXIT_OK, res.summary.get("abort_reason")
    assert seen == {"early": True, "lead": True}
    events = [json.loads(ln) for ln in (res.run_dir / "events.jsonl").read_text().splitlines()]
    assert sum(e["kind"] == "hold" for e in events) == 1  # only the accepted one


def test_a_wait_that_times_out_aborts_on_its_own_away_from_ignition(tmp_path) -> None:
    """A wait on a tank pressure that never comes, long before any propellant is commanded:
    the ignition monitor has nothing to abort, so the abort is the wait's alone."""
    text = LAB_RELIGHT.read_text()
    variant = text.replace('[[steps]]\nat = "T-1.0"\nset = { purge = 1 }\nlabel = "pre-purge"\n',
                           '[[steps]]\nat = "T-1.0"\nset = { purge = 1 }\nlabel = "pre-purge"\n\n'
                           '[[steps]]\nat = "T-0.9"\nwait = "p_tank_ox > 1000"\ntimeout = 0.2\n'
                           'on_timeout = "abort"\nlabel = "tank pressurised"\n')
    assert variant != text
    path = tmp_path / "tank_wait.toml"
    path.write_text(variant)
    res = run(RunOptions(sequence=str(path), stand=str(LAB), sim="lockstep", out=str(tmp_path / "r"),
                         progress=False))
    assert res.exit_code == EXIT_ABORTED
    assert "waiting for 'p_tank_ox > 1000'" in res.summary["abort_reason"]
    assert res.summary["burns"] == [] and res.summary["firmware"]["ignitions"] == 0
    events = [json.loads(ln) for ln in (res.run_dir / "events.jsonl").read_text().splitlines()]
    aborts = [e for e in events if e["kind"] == "abort"]
    assert len(aborts) == 1 and aborts[0]["source"] == "sequence"
