"""Step kinds own themselves (issue 25): a kind defined here, registered in the one table, is
parsed (with located errors), checked, described and executed without the loader, the burn
analysis or the interpreter knowing it; and the table is the one list of kinds."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from conftest import TQ12

from hil.check import check
from hil.errors import SequenceInvalid
from hil.record.recorder import read_run
from hil.runner import EXIT_OK, RunOptions, run
from hil.sequence import parse_sequence
from hil.sequence.steps import Effect, Pending, Poll, Runtime, Step, StepParser, register, step_keys, unregister
from hil.stand import load_stand
from hil.stand.toml_table import TableReader

pytestmark = pytest.mark.timeout(180)


@dataclass(frozen=True, kw_only=True)
class PulseStep(Step):
    """``pulse = "purge"``, ``width = s``: switch an on/off output on, hold the count for the
    width, switch it off again."""

    kind = "pulse"
    keys = ("pulse",)

    output: str = ""
    width: float = 0.0

    @classmethod
    def parse(cls, p: StepParser, t: TableReader, key: str, common: dict[str, Any]) -> list[Step] | None:
        name = t.get(key, str)
        if name not in p.actuators:
            p.err(t, key, f"unknown actuator {name!r}")
        return [cls(output=name, width=t.number("width", positive=True), **common)]

    def describe(self) -> str:
        return f"pulse {self.output} for {self.width:g} s"

    def effect(self) -> Effect:
        return Effect(sets=((self.output, 1.0),))

    @property
    def length(self) -> float:
        return self.width

    def execute(self, run: Runtime, t: float) -> None:
        run.commands.set(self.output, 1.0)
        run.block(self, t)

    def poll(self, run: Runtime, pending: Pending, cs: Any) -> Poll:
        if cs.t + 1e-9 < pending.started + self.width:
            return Poll.WAITING
        run.commands.set(self.output, 0.0)
        run.events(cs.t, "pulse_done", output=self.output)
        return Poll.PROCEED


COLD = """
[sequence]
name = "pulse demo"
cold_flow = true

[[steps]]
at = "T-1.0"
set = { ox_iso = 0 }

[[steps]]
at = "T0"
pulse = "purge"
width = 0.5
label = "purge pulse"

[[steps]]
at = "T+0.2"
mark = "after the pulse"
"""


@pytest.fixture
def pulse_kind():
    register(PulseStep)
    yield PulseStep
    unregister(PulseStep)


def test_the_table_is_the_one_list_of_step_keys() -> None:
    assert step_keys() == ("set", "ramp", "wait", "hold", "throttle", "enable_redline", "disable_redline", "run",
                           "mark", "prompt")
    with pytest.raises(ValueError, match="registered already"):
        register(PulseStep.__class__("Again", (PulseStep,), {"keys": ("set",)}))  # type: ignore[arg-type]


def test_a_kind_registered_in_the_table_is_parsed_with_located_errors(pulse_kind) -> None:
    stand = load_stand(TQ12)
    seq = parse_sequence(COLD, stand, "pulse.toml")
    pulse = seq.steps[1]
    assert isinstance(pulse, PulseStep) and (pulse.output, pulse.width, pulse.line) == ("purge", 0.5, 11)
    assert seq.end_time == pytest.approx(0.5)  # its own length counts in the nominal end
    assert "pulse" in str(_invalid(COLD.replace("pulse =", "pulse = 1\nhold =")))  # exactly one kind per step
    bad = _invalid(COLD.replace('pulse = "purge"', 'pulse = "purj"'))
    assert bad.errors[0].line == 12 and "unknown actuator 'purj'" in str(bad)
    missing = _invalid(COLD.replace("width = 0.5\n", ""))
    assert missing.errors[0].key == "steps[1].width"


def test_without_its_registration_the_kind_is_unknown() -> None:
    err = _invalid(COLD)
    assert "a step needs exactly one of set, ramp" in str(err) and "(found none)" in str(err)


def test_a_registered_kind_describes_itself_in_hil_check(pulse_kind, tmp_path) -> None:
    path = tmp_path / "pulse.toml"
    path.write_text(COLD)
    out = io.StringIO()
    assert check(str(path), str(TQ12), out) == EXIT_OK
    assert "  1  T  +0.000  pulse purge for 0.5 s  — purge pulse   (line 11)" in out.getvalue()


def test_a_registered_kind_executes_itself_in_a_run(pulse_kind, tmp_path) -> None:
    path = tmp_path / "pulse.toml"
    path.write_text(COLD)
    res = run(RunOptions(sequence=str(path), stand=str(TQ12), sim="lockstep", out=str(tmp_path / "r"),
                         progress=False))
    assert res.exit_code == EXIT_OK, res.summary.get("abort_reason")
    ev = [json.loads(line) for line in (res.run_dir / "events.jsonl").read_text().splitlines()]
    step = next(e for e in ev if e["kind"] == "step" and e.get("label") == "purge pulse")
    assert step["what"] == "pulse purge for 0.5 s"
    done = next(e for e in ev if e["kind"] == "pulse_done")
    mark = next(e for e in ev if e["kind"] == "step" and e.get("what") == "after the pulse")
    # the pulse held the count: the mark at T+0.2 came after the 0.5 s pulse, 0.2 s of sequence time later
    assert done["t"] - step["t"] == pytest.approx(0.5, abs=0.002)
    assert mark["t"] - done["t"] == pytest.approx(0.2, abs=0.002)
    table = read_run(res.run_dir).table
    t, purge = np.asarray(table.column("time")), np.asarray(table.column("cmd.purge"))
    on = t[(purge > 0) & (t <= mark["t"])]  # the safing routine purges after the run, too
    assert on.min() == pytest.approx(step["t"], abs=0.002) and on.max() == pytest.approx(done["t"], abs=0.002)


def _invalid(text: str) -> SequenceInvalid:
    with pytest.raises(SequenceInvalid) as info:
        parse_sequence(text, load_stand(TQ12), "pulse.toml")
    return info.value
