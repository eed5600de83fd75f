"""What every sequence step is: a time, the line it came from, and the five things a kind owns.

A step kind is one class (one module per kind or close family, registered in
:mod:`hil.sequence.steps.registry`). It parses itself from its TOML table (:meth:`Step.parse`,
with the file/line errors of :class:`hil.sequence.steps.parse.StepParser`), validates what it
can against the stand there, describes itself for ``hil check`` and the console's timeline
(:meth:`Step.describe`), says what it does to the commanded outputs before anything runs so
burns, ignition confirmations and relights can be found (:meth:`Step.effect`), and executes
itself in the interpreter (:meth:`Step.execute`, and :meth:`Step.poll` for a step that stops
sequence time until it is over). The loader, the burn analysis and the interpreter ask these
methods and never switch on the kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from hil.cycle import CycleState
    from hil.safety.ignition import IgnitionMonitor
    from hil.safety.redlines import RedlineMonitor
    from hil.safety.supervisor import EventSink, Supervisor
    from hil.sequence.expr import Expr
    from hil.sequence.steps.parse import StepParser
    from hil.stand.iomap import Commands
    from hil.stand.toml_table import TableReader
    from hil.throttle import ThrottleController

Outputs = tuple[tuple[str, float], ...]  # (actuator, value in engineering units), in file order


@dataclass(frozen=True)
class Gate:
    """A condition a step waits on before the count goes on (read by the burn analysis)."""

    condition: Expr
    timeout: float
    aborts: bool  # a timeout aborts the run (else the count goes on with a warning)


@dataclass(frozen=True)
class Effect:
    """What a step does along the timeline, read before anything runs (hil/sequence/burns.py):
    the outputs it commands to a value (a ramp by its target), an open-loop throttle position it
    drives the stand's throttle valves to, whether it hands them to the closed-loop Pc controller,
    the condition it waits on, and whether it stops the count for an operator's answer."""

    sets: Outputs = ()
    throttle_position: float | None = None
    closed_loop: bool = False
    gate: Gate | None = None
    asks_operator: bool = False


class Poll(Enum):
    """What a step that stops sequence time says each cycle."""

    WAITING = "waiting"  # not over: sequence time stands still, no later step runs
    PROCEED = "proceed"  # over: the next due steps run this cycle
    STOP = "stop"  # over, and the run was aborted: nothing more runs


@dataclass
class Pending:
    """The step the count waits on, with when it started and its index in the timeline."""

    step: Step
    started: float
    index: int
    since: float | None = None  # a wait: since when its condition has held without a break


class Runtime(Protocol):
    """What a step may touch while it executes (the interpreter, hil/sequence/engine.py)."""

    commands: Commands
    events: EventSink
    supervisor: Supervisor
    redlines: RedlineMonitor
    ignition: IgnitionMonitor
    throttle: ThrottleController | None
    seq_t: float

    def may_open(self, t: float, outputs: Outputs, line: int | None) -> bool: ...

    def start_ramp(self, name: str, target: float, over: float) -> None: ...

    def cancel_ramp(self, name: str) -> None: ...

    def block(self, step: Step, t: float) -> Pending: ...

    def take_answer(self) -> tuple[str, str] | None: ...

    def env(self, cs: CycleState) -> dict[str, float]: ...


@dataclass(frozen=True, kw_only=True)
class Step:
    """One step at sequence time ``at`` (seconds relative to T-0). Subclasses are frozen
    ``kw_only`` dataclasses adding their own fields; ``keys`` are the TOML keys that select
    the kind in a ``[[steps]]`` table (exactly one per step)."""

    kind: ClassVar[str]
    keys: ClassVar[tuple[str, ...]]

    at: float
    line: int | None
    label: str = ""
    origin: str = ""  # "block relight #2 (step at line 31)" for expanded steps

    @classmethod
    def parse(cls, p: StepParser, t: TableReader, key: str, common: dict[str, Any]) -> list[Step] | None:
        """Steps from the table ``t`` selected by ``key`` (``common``: at, line, label, origin);
        problems are recorded on ``p`` (file, line, key) — None when nothing can be built."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the timeline print-out (``hil check``, the console, the step events)."""
        raise NotImplementedError

    def execute(self, run: Runtime, t: float) -> None:
        """Do the step (the cycle it falls due in)."""
        raise NotImplementedError

    def effect(self) -> Effect:
        """What the step does along the timeline (for the burn analysis); nothing by default."""
        return Effect()

    def poll(self, run: Runtime, pending: Pending, cs: CycleState) -> Poll:
        """For a step that stopped the count (:meth:`Runtime.block`): is it over? Steps that
        never block never get here."""
        return Poll.PROCEED

    def question(self) -> dict[str, Any] | None:
        """What a client shows while this step waits for an operator's answer (None: it does not)."""
        return None

    @property
    def length(self) -> float:
        """Nominal seconds the step lasts beyond its time (a ramp, a hold): the timeline's end."""
        return 0.0

