"""Steps that stop sequence time: ``wait`` (until a condition holds) and ``hold`` (seconds).

While one is pending the outputs stay where they are and the redlines keep running; the count
goes on when the step's :meth:`poll` says so."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hil.sequence.expr import Expr
from hil.sequence.steps.base import Effect, Gate, Pending, Poll, Runtime, Step
from hil.sequence.steps.parse import StepParser
from hil.stand.toml_table import TableReader

if TYPE_CHECKING:
    from hil.cycle import CycleState


@dataclass(frozen=True, kw_only=True)
class WaitStep(Step):
    """``wait = "condition"``, ``timeout = s``, ``on_timeout = "abort" | "continue"``, ``for = s``."""

    kind = "wait"
    keys = ("wait",)

    condition: Expr | None = None  # None only in a sequence that failed to load
    timeout: float = 0.0
    hold_for: float = 0.0  # the condition must hold this long
    on_timeout: str = "abort"  # abort | continue

    @classmethod
    def parse(cls, p: StepParser, t: TableReader, key: str, common: dict[str, Any]) -> list[Step] | None:
        t.used.add(key)
        cond = p.expr(t, key, t.data[key])
        timeout = p.required(t, "timeout", key, 1.0)
        return [cls(condition=cond, timeout=timeout, hold_for=t.number("for", 0.0, lo=0.0, hi=3600.0),
                    on_timeout=t.choice("on_timeout", ("abort", "continue"), "abort"), **common)]

    def describe(self) -> str:
        extra = f" for {self.hold_for:g} s" if self.hold_for else ""
        return f"wait until {self.condition.source if self.condition else ''}{extra} " \
               f"(timeout {self.timeout:g} s → {self.on_timeout})"

    def effect(self) -> Effect:
        if self.condition is None:
            return Effect()
        return Effect(gate=Gate(self.condition, self.timeout, self.on_timeout == "abort"))

    @property
    def length(self) -> float:
        return self.hold_for

    def execute(self, run: Runtime, t: float) -> None:
        run.block(self, t)

    def poll(self, run: Runtime, pending: Pending, cs: CycleState) -> Poll:
        """Over once the condition has held ``for`` seconds; a timeout aborts or logs a warning."""
        assert self.condition is not None
        t = cs.t
        if self.condition.holds(run.env(cs)):
            if pending.since is None:
                pending.since = t
            if t - pending.since + 1e-9 >= self.hold_for:
                run.events(t, "wait_ok", index=pending.index, condition=self.condition.source,
                           waited_s=round(t - pending.started, 4), line=self.line)
                return Poll.PROCEED
        else:
            pending.since = None
        if t - pending.started + 1e-9 >= self.timeout:
            what = f"timeout after {self.timeout:g} s waiting for {self.condition.source!r} (line {self.line})"
            if self.on_timeout == "abort":
                run.supervisor.abort(t, what, source="sequence")
                return Poll.STOP
            run.events(t, "warning", what=what)
            return Poll.PROCEED
        return Poll.WAITING


@dataclass(frozen=True, kw_only=True)
class HoldStep(Step):
    """``hold = s``: pause sequence time."""

    kind = "hold"
    keys = ("hold",)

    hold_for: float = 0.0

    @classmethod
    def parse(cls, p: StepParser, t: TableReader, key: str, common: dict[str, Any]) -> list[Step] | None:
        return [cls(hold_for=t.number(key, lo=0.0, hi=3600.0), **common)]

    def describe(self) -> str:
        return f"hold {self.hold_for:g} s"

    @property
    def length(self) -> float:
        return self.hold_for

    def execute(self, run: Runtime, t: float) -> None:
        run.block(self, t)

    def poll(self, run: Runtime, pending: Pending, cs: CycleState) -> Poll:
        return Poll.WAITING if cs.t + 1e-9 < pending.started + self.hold_for else Poll.PROCEED
