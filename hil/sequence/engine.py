"""The sequence interpreter: a loop hook that walks a validated timeline.

Sequence time runs with the loop while the stand is RUNNING and stands still while a wait or
a hold is pending, so a step at T+2.0 happens 2 s after T-0 plus however long the waits before
it took (ignition confirmation, for instance). Leaving RUNNING for any reason (abort, fault)
stops it at once; the supervisor's safing routine owns the outputs from then on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hil.safety import RedlineMonitor, State
from hil.sequence.model import Sequence, Step
from hil.throttle import ThrottleController

if TYPE_CHECKING:
    from hil.loop import ControlLoop


@dataclass
class _Ramp:
    name: str
    start_value: float
    target: float
    t0: float
    over: float


class Sequencer:
    """Runs one sequence once per START."""

    def __init__(self, seq: Sequence, redlines: RedlineMonitor, throttle: ThrottleController | None) -> None:
        self.seq = seq
        self.redlines = redlines
        self.throttle = throttle
        self.state = "idle"  # idle | running | done | stopped
        self.i = 0
        self.seq_t = seq.start_time
        self._t_last = 0.0
        self.wait: Step | None = None
        self.wait_started = 0.0
        self.held_since: float | None = None
        self.hold_until: float | None = None
        self.ramps: list[_Ramp] = []
        self.current: Step | None = None
        self.ignition_channels: set[str] = set()

    @property
    def step_index(self) -> int:
        """Index of the step last started (for the recorder and the console's timeline)."""
        return self.i - 1 if self.state == "running" else -1

    def begin(self, loop: ControlLoop) -> None:
        """Called on START."""
        self.state = "running"
        self.i = 0
        self.seq_t = self.seq.start_time
        self._t_last = loop.t
        self.wait = None
        self.hold_until = None
        self.ramps = []
        loop.event(loop.t, "sequence_start", sequence=self.seq.name, t_seq=self.seq_t)
        if loop.stand.ignition:
            self.ignition_channels = {loop.stand.ignition.channel}

    def on_cycle(self, loop: ControlLoop) -> None:
        if self.state != "running":
            return
        if loop.supervisor.state != State.RUNNING:
            self.state = "stopped"
            self.ramps.clear()
            loop.event(loop.t, "sequence_stopped", at_step=self.step_index, t_seq=round(self.seq_t, 4),
                       reason=loop.supervisor.reason)
            return
        dt = loop.t - self._t_last
        self._t_last = loop.t
        if self.wait is None and self.hold_until is None:
            self.seq_t += dt
        self._ramps(loop)
        while True:
            if self.wait is not None and not self._wait(loop):
                break
            if self.hold_until is not None:
                if loop.t + 1e-9 < self.hold_until:
                    break
                self.hold_until = None
            if self.i >= len(self.seq.steps) or self.seq.steps[self.i].at > self.seq_t + 1e-9:
                break
            step = self.seq.steps[self.i]
            self.i += 1
            loop.step_index = self.i - 1
            self._execute(loop, step)
        if self.i >= len(self.seq.steps) and self.wait is None and self.hold_until is None and not self.ramps:
            self.state = "done"
            loop.event(loop.t, "sequence_done", t_seq=round(self.seq_t, 4))
            if self.throttle:
                self.throttle.release()
            loop.supervisor.complete(loop.t)

    def _execute(self, loop: ControlLoop, step: Step) -> None:
        t = loop.t
        self.current = step
        loop.event(t, "step", index=self.i - 1, t_seq=round(step.at, 4), line=step.line, what=step.describe(),
                   label=step.label)
        if step.kind == "set":
            if self.throttle is not None and self.throttle.mode != "off" and \
                    any(n in self.throttle.cfg.actuators for n, _ in step.set):
                self.throttle.release()  # an explicit setting of a throttle valve wins
                loop.event(t, "throttle_released", reason=f"step at line {step.line} sets a throttle valve")
            for name, value in step.set:
                loop.commands.set(name, value)
                self.ramps = [r for r in self.ramps if r.name != name]
            self._track_burn(loop)
        elif step.kind == "ramp":
            name, target = step.set[0]
            self.ramps = [r for r in self.ramps if r.name != name]
            self.ramps.append(_Ramp(name, loop.commands.get(name), target, self.seq_t, step.over))
        elif step.kind == "wait":
            self.wait, self.wait_started, self.held_since = step, t, None
        elif step.kind == "hold":
            self.hold_until = t + step.hold_for
        elif step.kind == "throttle" and self.throttle is not None:
            if step.throttle_off:
                self.throttle.release()
            elif step.pc is not None:
                self.throttle.command_pc(loop, step.pc, step.slew)
            elif step.position is not None:
                self.throttle.command_position(loop, step.position, step.slew)
        elif step.kind == "redline":
            self.redlines.enable(step.enable)
            self.redlines.disable(step.disable)

    def _ramps(self, loop: ControlLoop) -> None:
        keep = []
        for r in self.ramps:
            frac = min(1.0, max(0.0, (self.seq_t - r.t0) / r.over))
            loop.commands.set(r.name, r.start_value + (r.target - r.start_value) * frac)
            if frac < 1.0:
                keep.append(r)
        self.ramps = keep

    def _wait(self, loop: ControlLoop) -> bool:
        """True once the pending wait is over (satisfied, or timed out with 'continue')."""
        step = self.wait
        assert step is not None and step.condition is not None
        env = loop.expression_env(self.seq_t)
        t = loop.t
        if step.condition.holds(env):
            if self.held_since is None:
                self.held_since = t
            if t - self.held_since + 1e-9 >= step.hold_for:
                loop.event(t, "wait_ok", index=self.i - 1, condition=step.condition.source,
                           waited_s=round(t - self.wait_started, 4), line=step.line)
                if not loop.burning and step.condition.names & self.ignition_channels and self._propellants_open(loop):
                    loop.burning = True
                    loop.event(t, "ignition_confirmed", after_s=round(t - self.wait_started, 4))
                self.wait = None
                return True
        else:
            self.held_since = None
        if t - self.wait_started + 1e-9 >= step.timeout:
            self.wait = None
            what = f"timeout after {step.timeout:g} s waiting for {step.condition.source!r} (line {step.line})"
            if step.on_timeout == "abort":
                loop.supervisor.abort(t, what, source="sequence")
                return False
            loop.event(t, "warning", what=what)
            return True
        return False

    def _propellants_open(self, loop: ControlLoop) -> bool:
        acts = loop.stand.actuators
        ox = any(loop.commands.get(a.name) > 0 for a in acts if a.propellant == "ox" and a.feeds == "chamber")
        fuel = any(loop.commands.get(a.name) > 0 for a in acts if a.propellant == "fuel" and a.feeds == "chamber")
        return ox and fuel

    def _track_burn(self, loop: ControlLoop) -> None:
        if loop.burning and not self._propellants_open(loop):
            loop.burning = False
            loop.event(loop.t, "shutdown_commanded")
            if self.throttle:
                self.throttle.release()
