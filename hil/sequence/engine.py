"""The sequence interpreter: the ``sequence`` stage of the cycle, walking a validated timeline.

Sequence time runs with the loop while the stand is RUNNING and stands still while a wait, a
hold, an operator's prompt or an operator's HOLD is pending, so a step at T+2.0 happens 2 s
after T-0 plus however long the waits before it took (ignition confirmation, a GO/NO-GO poll).
Outputs stay where they are and redlines keep running meanwhile; an operator HOLD is refused
from T-0 on (the engine is committed: ABORT is the way out). Leaving RUNNING for any reason (abort, fault)
stops it at once; the supervisor's safing routine owns the outputs from then on. Whether the
engine is lit is not the sequence's to decide: the ignition monitor says so (``cs.burning``),
and a step that would open the propellants against a relight interlock is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hil.cycle import CycleState
from hil.errors import Refused
from hil.safety.ignition import IgnitionMonitor
from hil.safety.redlines import RedlineMonitor
from hil.safety.start import StartInterlock
from hil.safety.supervisor import EventSink, State, Supervisor
from hil.sequence.model import Sequence, Step
from hil.sequence.steps import Pending, Poll
from hil.sequence.steps.base import Outputs
from hil.stand.iomap import Commands
from hil.throttle import ThrottleController


class RunState(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    DONE = "done"
    STOPPED = "stopped"  # left RUNNING (abort, fault) before the end


@dataclass
class _Ramp:
    name: str
    start_value: float
    target: float
    t0: float
    over: float


class Sequencer:
    """Runs the loaded sequence once per START. Produces ``cs.step_index`` and ``cs.seq_t``."""

    name = "sequence"

    def __init__(self, supervisor: Supervisor, commands: Commands, events: EventSink, redlines: RedlineMonitor,
                 ignition: IgnitionMonitor, throttle: ThrottleController | None, *,
                 start: StartInterlock | None = None) -> None:
        self.supervisor = supervisor
        self.commands = commands
        self.events = events
        self.redlines = redlines
        self.ignition = ignition
        self.throttle = throttle
        self.start = start  # the staged start's rules, asked before a step opens a propellant valve
        self.seq: Sequence | None = None
        self.state = RunState.IDLE
        self.i = 0
        self.seq_t = 0.0
        self._t_last = 0.0
        self.waiting_on: Pending | None = None  # a wait, a hold or a prompt the count stands still for
        self.ramps: list[_Ramp] = []
        self.current: Step | None = None
        self._answer: tuple[str, str] | None = None  # (proceed | abort, client), taken next cycle
        self.held_by: str | None = None  # an operator's HOLD of the count (before T-0 only)
        self.held_at = 0.0
        self.channel_names = [c.name for c in supervisor.stand.channels]

    def load(self, seq: Sequence) -> None:
        """Install a checked sequence (SAFE only; the controller checks)."""
        self.seq = seq
        self.state = RunState.IDLE
        self.current = None

    @property
    def step_index(self) -> int:
        """Index of the step last started (for the console's timeline), -1 when not running."""
        return self.i - 1 if self.state == RunState.RUNNING else -1

    def begin(self, t: float) -> None:
        """Called on START."""
        if self.seq is None:
            raise Refused("no sequence loaded")
        self.state = RunState.RUNNING
        self.i = 0
        self.seq_t = self.seq.start_time
        self._t_last = t
        self.waiting_on = None
        self.ramps = []
        self._answer, self.held_by = None, None
        self.events(t, "sequence_start", sequence=self.seq.name, t_seq=self.seq_t)

    def on_cycle(self, cs: CycleState) -> None:
        if self.state != RunState.RUNNING or self.seq is None:
            cs.seq_t = None
            return
        t = cs.t
        if self.supervisor.state != State.RUNNING:
            self.state = RunState.STOPPED
            self.ramps.clear()
            self.waiting_on, self._answer, self.held_by = None, None, None
            cs.seq_t = None
            self.events(t, "sequence_stopped", at_step=self.step_index, t_seq=round(self.seq_t, 4),
                        reason=self.supervisor.reason)
            return
        dt = t - self._t_last
        self._t_last = t
        if self.waiting_on is None and self.held_by is None:
            self.seq_t += dt
        self._ramps()
        steps = self.seq.steps
        while self.supervisor.state == State.RUNNING:
            if self.held_by is not None:
                break
            if self.waiting_on is not None:
                over = self.waiting_on.step.poll(self, self.waiting_on, cs)
                if over == Poll.WAITING:
                    break
                self.waiting_on = None
                if over == Poll.STOP:
                    break
            if self.i >= len(steps) or steps[self.i].at > self.seq_t + 1e-9:
                break
            step = steps[self.i]
            self.i += 1
            cs.step_index = self.i - 1
            self._execute(t, step)
        cs.seq_t = self.seq_t
        if self.supervisor.state == State.RUNNING and self.i >= len(steps) and self.waiting_on is None \
                and not self.ramps:
            self.state = RunState.DONE
            self.events(t, "sequence_done", t_seq=round(self.seq_t, 4))
            if self.throttle:
                self.throttle.release()
            self.supervisor.complete(t)

    def _execute(self, t: float, step: Step) -> None:
        self.current = step
        self.events(t, "step", index=self.i - 1, t_seq=round(step.at, 4), line=step.line, what=step.describe(),
                    label=step.label)
        step.execute(self, t)

    # ------------------------------------------------------------------ what a step may ask of the run

    def block(self, step: Step, t: float) -> Pending:
        """Stop the count on ``step`` (a wait, a hold, a prompt) until its ``poll`` says it is over."""
        self.waiting_on, self._answer = Pending(step, t, self.i - 1), None
        return self.waiting_on

    def start_ramp(self, name: str, target: float, over: float) -> None:
        """Move ``name`` linearly from its present command to ``target`` over ``over`` s of sequence time."""
        self.cancel_ramp(name)
        self.ramps.append(_Ramp(name, self.commands.get(name), target, self.seq_t, over))

    def cancel_ramp(self, name: str) -> None:
        """Stop a ramp of ``name`` where it is (a later setting of the output wins)."""
        self.ramps = [r for r in self.ramps if r.name != name]

    def take_answer(self) -> tuple[str, str] | None:
        """The operator's answer to the pending prompt (answer, client), once."""
        given, self._answer = self._answer, None
        return given

    # ------------------------------------------------------------------ the operator in the loop

    def pending(self) -> dict[str, Any] | None:
        """The prompt waiting for an answer (for clients), or None."""
        p = self.waiting_on
        q = p.step.question() if p is not None and self.state == RunState.RUNNING else None
        if p is None or q is None:
            return None
        return {"index": p.index, **q, "asked_at": p.started}

    def answer(self, t: float, index: int, answer: str, client: str) -> None:
        """An operator's PROCEED or ABORT to the pending prompt ``index`` (taken next cycle).
        Refused when that prompt is not the one pending (answered already, timed out, or a
        console that is behind)."""
        if answer not in ("proceed", "abort"):
            raise Refused(f"answer must be proceed or abort, not {answer!r}")
        asked = self.pending()
        if asked is None:
            raise Refused("no prompt is pending")
        if index != asked["index"]:
            raise Refused(f"prompt {index} is not the one pending (prompt {asked['index']}: {asked['text']!r})")
        if self._answer is not None:
            raise Refused(f"prompt {index} is already answered ({self._answer[0]} by {self._answer[1]})")
        self._answer = (answer, client)

    def hold(self, t: float, client: str) -> None:
        """Stop the count before T-0 (outputs stay, redlines keep running)."""
        if self.state != RunState.RUNNING:
            raise Refused("no sequence is running: there is no count to hold")
        if self.seq_t >= 0.0:
            raise Refused(f"a hold is refused after T-0 (now T{self.seq_t:+.2f} s): the engine is committed; "
                          f"ABORT is the way out")
        if self.held_by is not None:
            raise Refused(f"the count is already held (by {self.held_by} at T{self.seq_t:+.2f} s)")
        flowing = [n for n in self.ignition.ox + self.ignition.fuel if self.commands.get(n) > 0]
        if flowing:  # a LOX lead before T-0: holding it would let propellant flow unbounded
            raise Refused(f"a hold is refused while a chamber propellant valve is commanded open "
                          f"({', '.join(flowing)} at T{self.seq_t:+.2f} s): ABORT is the way out")
        self.held_by, self.held_at = client, t
        self.events(t, "hold", client=client, t_seq=round(self.seq_t, 4))

    def resume(self, t: float, client: str) -> None:
        """Resume a held count."""
        if self.held_by is None or self.state != RunState.RUNNING:
            raise Refused("the count is not held")
        self.events(t, "resume", client=client, t_seq=round(self.seq_t, 4), held_s=round(t - self.held_at, 4),
                    held_by=self.held_by)
        self.held_by = None

    def may_open(self, t: float, outputs: Outputs, line: int | None) -> bool:
        """A step that opens the propellants while a relight interlock holds, or opens a chamber
        propellant valve against the staged start, is not commanded: the run is aborted with the
        interlock's reason and the step's line instead."""
        if self.start is not None:
            refusal = self.start.refusal(outputs)
            if refusal:
                self.supervisor.abort(t, f"{refusal} (step at line {line})", source="start")
                return False
        if self.ignition.propellants_open() or not self.ignition.propellants_open(outputs):
            return True
        refusal = self.ignition.relight_refusal(t)
        if refusal:
            self.supervisor.abort(t, f"{refusal} (step at line {line})", source="interlock")
            return False
        return True

    def _ramps(self) -> None:
        keep = []
        for r in self.ramps:
            frac = min(1.0, max(0.0, (self.seq_t - r.t0) / r.over))
            self.commands.set(r.name, r.start_value + (r.target - r.start_value) * frac)
            if frac < 1.0:
                keep.append(r)
        self.ramps = keep

    def env(self, cs: CycleState) -> dict[str, float]:
        """Names a sequence condition may use, with this cycle's values."""
        env = dict(zip(self.channel_names, cs.values.tolist()))
        env.update({f"cmd.{n}": float(v) for n, v in zip(self.commands.names, self.commands.eng)})
        env.update(t=self.seq_t, pc_setpoint=cs.pc_setpoint, throttle_output=cs.throttle_output, burn_time=self.seq_t)
        return env
