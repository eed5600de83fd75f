"""What a loaded sequence is: a flat, time-ordered list of validated steps.

Blocks and repeats are expanded at load time, so the interpreter and ``hil check`` see exactly
the timeline that will run, each step still knowing the file line it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hil.sequence.expr import Expr
from hil.stand import Redline

StepKind = Literal["set", "ramp", "wait", "hold", "throttle", "redline", "mark", "prompt"]
PROMPT_TIMEOUT_S = 300.0  # a prompt nobody answers: on_timeout (abort unless the file says proceed) after this


@dataclass(frozen=True)
class Step:
    """One step at sequence time ``at`` (seconds relative to T-0).

    kind: set | ramp | wait | hold | throttle | redline | mark | prompt
    """

    at: float
    kind: StepKind
    line: int | None
    label: str = ""
    set: tuple[tuple[str, float], ...] = ()  # set: (actuator, value); ramp: one pair = target
    over: float = 0.0  # ramp duration
    condition: Expr | None = None  # wait
    hold_for: float = 0.0  # wait: the condition must hold this long; hold: pause length
    timeout: float = 0.0
    on_timeout: str = "abort"  # abort | continue (wait); abort | proceed (prompt)
    prompt: str = ""  # prompt: the question put to the operator (GO/NO-GO)
    pc: float | None = None  # throttle: closed-loop Pc setpoint (MPa)
    position: float | None = None  # throttle: open-loop output (%)
    slew: float = 0.0  # throttle slew (MPa/s or %/s); 0: the stand's default
    throttle_off: bool = False
    enable: tuple[str, ...] = ()  # redline names
    disable: tuple[str, ...] = ()
    origin: str = ""  # "block relight #2" for expanded steps

    def describe(self) -> str:
        """One line for the timeline print-out."""
        if self.kind == "set":
            return "set " + ", ".join(f"{n}={v:g}" for n, v in self.set)
        if self.kind == "ramp":
            n, v = self.set[0]
            return f"ramp {n} → {v:g} over {self.over:g} s"
        if self.kind == "wait":
            extra = f" for {self.hold_for:g} s" if self.hold_for else ""
            return f"wait until {self.condition.source if self.condition else ''}{extra} " \
                   f"(timeout {self.timeout:g} s → {self.on_timeout})"
        if self.kind == "hold":
            return f"hold {self.hold_for:g} s"
        if self.kind == "prompt":
            return f"prompt \"{self.prompt}\" (PROCEED or ABORT; timeout {self.timeout:g} s → {self.on_timeout})"
        if self.kind == "throttle":
            if self.throttle_off:
                return "throttle off (outputs stay where they are)"
            if self.pc is not None:
                return f"throttle to Pc {self.pc:g} MPa (closed loop" + (f", slew {self.slew:g} MPa/s)" if self.slew else ")")
            return f"throttle output to {self.position:g} % (open loop" + (f", slew {self.slew:g} %/s)" if self.slew else ")")
        if self.kind == "redline":
            parts = []
            if self.enable:
                parts.append("enable redline " + ", ".join(self.enable))
            if self.disable:
                parts.append("disable redline " + ", ".join(self.disable))
            return "; ".join(parts)
        return self.label or self.kind


@dataclass(frozen=True)
class Sequence:
    """A validated sequence, ready for a stand."""

    path: str
    sha256: str
    name: str
    description: str
    steps: tuple[Step, ...]
    redlines: tuple[Redline, ...] = ()
    requires_ignition: bool = True
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def prompts(self) -> tuple[Step, ...]:
        """The steps that wait for an operator's answer."""
        return tuple(s for s in self.steps if s.kind == "prompt")

    @property
    def start_time(self) -> float:
        """Sequence time at START (the first step's time, e.g. -5.0 for T-5)."""
        return min((s.at for s in self.steps), default=0.0)

    @property
    def end_time(self) -> float:
        """Nominal time of the last step (waits and holds can push it later)."""
        return max((s.at + s.over + s.hold_for for s in self.steps), default=0.0)
