"""Closed-loop chamber-pressure control through the throttle valves.

A PI acting in fractions of rated Pc, mapped through the stand's feedforward table (throttle
output at steady state versus Pc): the table does the large, nonlinear part of the work (a
pressure-fed engine's valve authority collapses near full open; a pump-fed engine's Pc goes
with pump speed squared), so one pair of gains holds over 40-110 %. Anti-windup by
conditional integration, setpoint slew limits, output slew limits and the stand's throttle
range. Bumpless: engaging takes over from wherever the valves are.
"""

from __future__ import annotations

import bisect
import math
from enum import StrEnum

import numpy as np

from hil.cycle import CycleState
from hil.safety.supervisor import State, Supervisor
from hil.stand import StandConfig
from hil.stand.iomap import Commands


class ThrottleMode(StrEnum):
    OFF = "off"  # not commanding: the sequence or safing owns the valves
    CLOSED = "closed"  # closed loop on Pc
    OPEN = "open"  # open loop to a position


class ThrottleController:
    """The ``throttle`` stage: produces ``cs.pc_setpoint``, ``cs.pc_setpoint_moved_at`` and
    ``cs.throttle_output``. The sequencer tells it what to do; leaving RUNNING stops it."""

    name = "throttle"

    def __init__(self, stand: StandConfig, supervisor: Supervisor, commands: Commands) -> None:
        self.supervisor = supervisor
        self.commands = commands
        if stand.throttle is None:
            raise ValueError(f"stand {stand.name!r} has no [throttle] section")
        self.cfg = stand.throttle
        self.stand = stand
        self.rated = stand.limits.pc_rated
        ff = np.array(self.cfg.feedforward)
        self.ff_x, self.ff_y = ff[:, 0], ff[:, 1]
        self._ffx = [float(v) for v in self.ff_x]  # for interp() every cycle, as np.interp reads them
        self._ffy = [float(v) for v in self.ff_y]
        self.lo_frac = stand.limits.throttle_min_pct / 100.0
        self.hi_frac = stand.limits.throttle_max_pct / 100.0
        acts = [stand.actuator(a) for a in self.cfg.actuators]
        self.out_lo = max(a.range[0] for a in acts)
        self.out_hi = min(a.range[1] for a in acts)
        self.mode = ThrottleMode.OFF
        self.target = 0.0  # MPa (closed) or % (open)
        self.slew = 0.0
        self.setpoint = float("nan")  # the ramped Pc command, MPa
        self.output = float("nan")  # %
        self.integral = 0.0
        self.setpoint_moved_at = 0.0
        self._t_last: float | None = None

    # ------------------------------------------------------------------ commands

    def command_pc(self, t: float, commands: Commands, pc: float, slew: float = 0.0) -> None:
        """Closed loop to ``pc`` MPa, moving the setpoint at ``slew`` MPa/s (0: stand default)."""
        lo, hi = self.lo_frac * self.rated, self.hi_frac * self.rated
        self.target = min(max(pc, lo), hi)
        self.slew = slew or self.cfg.slew
        if self.mode != ThrottleMode.CLOSED:
            # bumpless: start the setpoint at the Pc the valves' current position settles to
            # (the feedforward table read backwards), not at the measured Pc, which during a
            # start transient is still climbing toward it; the integrator starts empty
            self.output = commands.get(self.cfg.actuators[0])
            self.setpoint = min(max(self._inverse_ff(self.output) * self.rated, lo), hi)
            self.integral = 0.0
            self.mode = ThrottleMode.CLOSED
        self.setpoint_moved_at = t
        self._t_last = t

    def command_position(self, t: float, commands: Commands, position: float, slew: float = 0.0) -> None:
        """Open loop: move the throttle output to ``position`` % at ``slew`` %/s."""
        self.mode = ThrottleMode.OPEN
        self.target = min(max(position, self.out_lo), self.out_hi)
        self.slew = slew or self.cfg.out_slew
        self.output = commands.get(self.cfg.actuators[0])
        self.setpoint = float("nan")
        self._t_last = t

    def release(self) -> None:
        """Stop commanding; outputs stay where they are (the sequence or safing takes over)."""
        self.mode = ThrottleMode.OFF
        self.setpoint = float("nan")

    # ------------------------------------------------------------------ every cycle

    def on_cycle(self, cs: CycleState) -> None:
        self._cycle(cs)
        cs.pc_setpoint = self.setpoint
        cs.pc_setpoint_moved_at = self.setpoint_moved_at
        cs.throttle_output = self.output if self.mode != ThrottleMode.OFF else float("nan")

    def _cycle(self, cs: CycleState) -> None:
        if self.mode == ThrottleMode.OFF:
            return
        if self.supervisor.state != State.RUNNING:
            self.release()
            return
        t = cs.t
        dt = t - (self._t_last if self._t_last is not None else t)
        self._t_last = t
        if self.mode == ThrottleMode.OPEN:
            self.output = _toward(self.output, self.target, self.slew * dt)
            self._write(self.output)
            return
        # setpoint ramp
        before = self.setpoint
        self.setpoint = _toward(self.setpoint, self.target, self.slew * dt)
        if self.setpoint != before:
            self.setpoint_moved_at = t
        pc = cs.pc
        if not math.isfinite(pc):
            return  # no trustworthy Pc: hold the output; the redlines decide what happens next
        err = (self.setpoint - pc) / self.rated
        cfg = self.cfg
        demand = self.setpoint / self.rated + cfg.kp * err + self.integral
        lo, hi = self.ff_x[0], self.ff_x[-1]
        # conditional integration: hold the integrator while the setpoint is slewing (the
        # feedforward carries the ramp; integrating the plant's lag behind it only winds up
        # an overshoot for the end of the ramp), and never wind up against the table's ends
        plateau = self.setpoint == self.target
        if plateau and ((lo < demand < hi) or (demand >= hi and err < 0) or (demand <= lo and err > 0)):
            self.integral += cfg.ki * err * dt
            demand = self.setpoint / self.rated + cfg.kp * err + self.integral
        want = interp(demand, self._ffx, self._ffy)
        want = min(max(want, self.out_lo), self.out_hi)
        self.output = _toward(self.output, want, cfg.out_slew * dt)
        self._write(self.output)

    def _write(self, out: float) -> None:
        acts = self.cfg.actuators
        self.commands.set(acts[0], out)
        for name, r in zip(acts[1:], self.cfg.ratio):
            self.commands.set(name, out * r)

    def _inverse_ff(self, output: float) -> float:
        return float(np.interp(output, self.ff_y, self.ff_x))


def interp(x: float, xs: list[float], ys: list[float]) -> float:
    """``float(np.interp(x, xs, ys))`` for one point of an increasing table, the same
    arithmetic in plain Python: numpy's call costs ~5 µs, more than the rest of a throttle
    cycle (issue 26). Outside the table: its end values; NaN in, NaN out."""
    if x != x:
        return x
    n = len(xs)
    if x < xs[0]:
        return ys[0]
    if x > xs[-1]:
        return ys[-1]
    j = bisect.bisect_right(xs, x) - 1
    if j == n - 1 or xs[j] == x:
        return ys[j]
    slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j])
    y = slope * (x - xs[j]) + ys[j]
    if y != y:  # numpy's guard against an infinite slope
        y = slope * (x - xs[j + 1]) + ys[j + 1]
        if y != y and ys[j] == ys[j + 1]:
            y = ys[j]
    return y


def _toward(x: float, target: float, step: float) -> float:
    if not math.isfinite(x):
        return target
    if target > x:
        return min(target, x + step)
    return max(target, x - step)
