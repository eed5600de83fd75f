"""Steps that command outputs: ``set`` (a value now) and ``ramp`` (linearly, over seconds).

Both are asked past the stand's interlocks first (:meth:`Runtime.may_open`: the staged start,
the relight interlocks): a step that would open the propellants against one is not commanded,
the run is aborted with the step's line instead."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hil.sequence.steps.base import Effect, Outputs, Runtime, Step
from hil.sequence.steps.parse import StepParser
from hil.stand.toml_table import TableReader
from hil.throttle import ThrottleMode


@dataclass(frozen=True, kw_only=True)
class SetStep(Step):
    """``set = { name = value, ... }``: command outputs (engineering units, within range)."""

    kind = "set"
    keys = ("set",)

    values: Outputs = ()

    @classmethod
    def parse(cls, p: StepParser, t: TableReader, key: str, common: dict[str, Any]) -> list[Step] | None:
        t.used.add(key)
        return [cls(values=p.outputs(t, key, t.data[key]), **common)]

    def describe(self) -> str:
        return "set " + ", ".join(f"{n}={v:g}" for n, v in self.values)

    def effect(self) -> Effect:
        return Effect(sets=self.values)

    def execute(self, run: Runtime, t: float) -> None:
        if not run.may_open(t, self.values, self.line):
            return
        thr = run.throttle
        if thr is not None and thr.mode != ThrottleMode.OFF and any(n in thr.cfg.actuators for n, _ in self.values):
            thr.release()  # an explicit setting of a throttle valve wins
            run.events(t, "throttle_released", reason=f"step at line {self.line} sets a throttle valve")
        for name, value in self.values:
            run.commands.set(name, value)
            run.cancel_ramp(name)
        if thr is not None and thr.mode != ThrottleMode.OFF and not run.ignition.propellants_open():
            thr.release()  # shutdown: the throttle loop has nothing left to control


@dataclass(frozen=True, kw_only=True)
class RampStep(Step):
    """``ramp = { name = target }, over = s``: move one proportional output linearly."""

    kind = "ramp"
    keys = ("ramp",)

    target: Outputs = ()  # one (output, target) pair; empty only in a sequence that failed to load
    over: float = 0.0

    @classmethod
    def parse(cls, p: StepParser, t: TableReader, key: str, common: dict[str, Any]) -> list[Step] | None:
        t.used.add(key)
        pairs = p.outputs(t, key, t.data[key])
        over = p.required(t, "over", key, 1.0)
        if len(pairs) > 1:
            p.err(t, key, "ramp one output per step")
        for name, _ in pairs:
            if p.actuators[name].kind != "proportional":
                p.err(t, key, f"{name} is on/off: it cannot be ramped")
        return [cls(target=pairs[:1], over=over, **common)]

    def describe(self) -> str:
        n, v = self.target[0]
        return f"ramp {n} → {v:g} over {self.over:g} s"

    def effect(self) -> Effect:
        return Effect(sets=self.target)

    @property
    def length(self) -> float:
        return self.over

    def execute(self, run: Runtime, t: float) -> None:
        if not run.may_open(t, self.target, self.line):
            return
        name, target = self.target[0]
        run.start_ramp(name, target, self.over)
