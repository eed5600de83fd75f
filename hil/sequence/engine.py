"""The sequence interpreter: the ``sequence`` stage of the cycle, walking a validated timeline.

Sequence time runs with the loop while the stand is RUNNING and stands still while a wait or
a hold is pending, so a step at T+2.0 happens 2 s after T-0 plus however long the waits before
it took (ignition confirmation, for instance). Leaving RUNNING for any reason (abort, fault)
stops it at once; the supervisor's safing routine owns the outputs from then on. Whether the
engine is lit is not the sequence's to decide: the ignition monitor says so (``cs.burning``),
and a step that would open the propellants against a relight interlock is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hil.cycle import CycleState
from hil.errors import Refused
from hil.safety.ignition import IgnitionMonitor
from hil.safety.redlines import RedlineMonitor
from hil.safety.supervisor import EventSink, State, Supervisor
from hil.sequence.model import Sequence, Step
from hil.stand.iomap import Commands
from hil.throttle import ThrottleController, ThrottleMode


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
                 ignition: IgnitionMonitor, throttle: ThrottleController | None) -> None:
        self.supervisor = supervisor
        self.commands = commands
        self.events = events
        self.redlines = redlines
        self.ignition = ignition
        self.throttle = throttle
        self.seq: Sequence | None = None
        self.state = RunState.IDLE
        self.i = 0
        self.seq_t = 0.0
        self._t_last = 0.0
        self.wait: Step | None = None
        self.wait_started = 0.0
        self.held_since: float | None = None
        self.hold_until: float | None = None
        self.ramps: list[_Ramp] = []
        self.current: Step | None = None
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
        self.wait = None
        self.hold_until = None
        self.ramps = []
        self.events(t, "sequence_start", sequence=self.seq.name, t_seq=self.seq_t)

    def on_cycle(self, cs: CycleState) -> None:
        if self.state != RunState.RUNNING or self.seq is None:
            cs.seq_t = None
            return
        t = cs.t
        if self.supervisor.state != State.RUNNING:
            self.state = RunState.STOPPED
            self.ramps.clear()
            cs.seq_t = None
            self.events(t, "sequence_stopped", at_step=self.step_index, t_seq=round(self.seq_t, 4),
                        reason=self.supervisor.reason)
            return
        dt = t - self._t_last
        self._t_last = t
        if self.wait is None and self.hold_until is None:
            self.seq_t += dt
        self._ramps()
        steps = self.seq.steps
        while self.supervisor.state == State.RUNNING:
            if self.wait is not None and not self._wait(cs):
                break
            if self.hold_until is not None:
                if t + 1e-9 < self.hold_until:
                    break
                self.hold_until = None
            if self.i >= len(steps) or steps[self.i].at > self.seq_t + 1e-9:
                break
            step = steps[self.i]
            self.i += 1
            cs.step_index = self.i - 1
            self._execute(t, step)
        cs.seq_t = self.seq_t
        if self.supervisor.state == State.RUNNING and self.i >= len(steps) and self.wait is None \
                and self.hold_until is None and not self.ramps:
            self.state = RunState.DONE
            self.events(t, "sequence_done", t_seq=round(self.seq_t, 4))
            if self.throttle:
                self.throttle.release()
            self.supervisor.complete(t)

    def _execute(self, t: float, step: Step) -> None:
        self.current = step
        self.events(t, "step", index=self.i - 1, t_seq=round(step.at, 4), line=step.line, what=step.describe(),
                    label=step.label)
        if step.kind in ("set", "ramp") and not self._may_open(t, step):
            return
        if step.kind == "set":
            if self.throttle is not None and self.throttle.mode != ThrottleMode.OFF and \
                    any(n in self.throttle.cfg.actuators for n, _ in step.set):
                self.throttle.release()  # an explicit setting of a throttle valve wins
                self.events(t, "throttle_released", reason=f"step at line {step.line} sets a throttle valve")
            for name, value in step.set:
                self.commands.set(name, value)
                self.ramps = [r for r in self.ramps if r.name != name]
            if self.throttle is not None and self.throttle.mode != ThrottleMode.OFF and not self.ignition.propellants_open():
                self.throttle.release()  # shutdown: the throttle loop has nothing left to control
        elif step.kind == "ramp":
            name, target = step.set[0]
            self.ramps = [r for r in self.ramps if r.name != name]
            self.ramps.append(_Ramp(name, self.commands.get(name), target, self.seq_t, step.over))
        elif step.kind == "wait":
            self.wait, self.wait_started, self.held_since = step, t, None
        elif step.kind == "hold":
            self.hold_until = t + step.hold_for
        elif step.kind == "throttle" and self.throttle is not None:
            if step.throttle_off:
                self.throttle.release()
            elif step.pc is not None:
                self.throttle.command_pc(t, self.commands, step.pc, step.slew)
            elif step.position is not None:
                self.throttle.command_position(t, self.commands, step.position, step.slew)
        elif step.kind == "redline":
            self.redlines.enable(step.enable)
            self.redlines.disable(step.disable)

    def _may_open(self, t: float, step: Step) -> bool:
        """A step that opens the propellants while a relight interlock holds is not commanded:
        the run is aborted with the interlock's reason instead."""
        if self.ignition.propellants_open() or not self.ignition.propellants_open(step.set):
            return True
        refusal = self.ignition.relight_refusal(t)
        if refusal:
            self.supervisor.abort(t, f"{refusal} (step at line {step.line})", source="interlock")
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

    def _wait(self, cs: CycleState) -> bool:
        """True once the pending wait is over (satisfied, or timed out with 'continue')."""
        step = self.wait
        assert step is not None and step.condition is not None
        t = cs.t
        if step.condition.holds(self.env(cs)):
            if self.held_since is None:
                self.held_since = t
            if t - self.held_since + 1e-9 >= step.hold_for:
                self.events(t, "wait_ok", index=self.i - 1, condition=step.condition.source,
                            waited_s=round(t - self.wait_started, 4), line=step.line)
                self.wait = None
                return True
        else:
            self.held_since = None
        if t - self.wait_started + 1e-9 >= step.timeout:
            self.wait = None
            what = f"timeout after {step.timeout:g} s waiting for {step.condition.source!r} (line {step.line})"
            if step.on_timeout == "abort":
                self.supervisor.abort(t, what, source="sequence")
                return False
            self.events(t, "warning", what=what)
            return True
        return False
