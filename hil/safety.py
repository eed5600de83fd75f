"""The stand state machine, the safing routine every exit path runs, and the redlines.

States (DESIGN.md): SAFE → ARMED → RUNNING → (complete → SAFE) or ABORTING → SAFE; FAULT is
latched (communication loss, firmware trip, a sensor disqualified during a burn) and needs an
operator reset. Only SAFE accepts manual outputs, only ARMED accepts START, and ABORT is
accepted in every state, never refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from hil import firmware_map as fw
from hil.config import StandConfig
from hil.iomap import Commands


class State(IntEnum):
    """Stand state; the integer is what the recorder stores per cycle."""

    SAFE = 0
    ARMED = 1
    RUNNING = 2
    ABORTING = 3
    FAULT = 4


STATE_NAMES = tuple(s.name for s in State)

EventSink = Callable[..., None]  # (t, kind, **fields)


class Refused(Exception):
    """An operator or client request that the current state does not allow; carries why."""


class Safing:
    """Runs the stand's [safing] table against the command image from a start time."""

    def __init__(self, stand: StandConfig) -> None:
        self.steps = stand.safing
        self.t0: float | None = None
        self.next = 0

    @property
    def active(self) -> bool:
        """Started and not yet finished."""
        return self.t0 is not None and self.next < len(self.steps)

    @property
    def done(self) -> bool:
        """Every step has been commanded."""
        return self.t0 is not None and self.next >= len(self.steps)

    def start(self, t: float, commands: Commands) -> None:
        """Begin (or restart) the sequence at ``t``; the first step is commanded at once."""
        self.t0, self.next = t, 0
        self.apply(t, commands)

    def apply(self, t: float, commands: Commands) -> None:
        """Command every step that is due. Idempotent: due steps are re-asserted each call so
        a write lost to a communication fault is repeated."""
        if self.t0 is None:
            return
        elapsed = t - self.t0 + 1e-9
        while self.next < len(self.steps) and self.steps[self.next].at_s <= elapsed:
            self.next += 1
        for step in self.steps[: self.next]:
            for name, value in step.set:
                commands.set(name, value)


@dataclass
class SupervisorStatus:
    """What clients are told about the stand."""

    state: str
    reason: str = ""
    since: float = 0.0
    firmware_state: int = 0
    firmware_trips: int = 0
    comm_ok: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


class Supervisor:
    """State machine and safing. The loop calls :meth:`on_cycle` every cycle after decoding and
    before writing; operator requests arrive through the other methods between cycles."""

    def __init__(self, stand: StandConfig, commands: Commands, events: EventSink) -> None:
        self.stand = stand
        self.commands = commands
        self.events = events
        self.state = State.SAFE
        self.reason = ""
        self.since = 0.0
        self.safing = Safing(stand)
        self.t = 0.0
        self.fw_state = 0
        self.fw_trips = 0
        self.comm_ok = True
        self.abort_reason = ""
        self.fault_reason = ""
        self.on_abort: list[Callable[[float, str], None]] = []

    # ------------------------------------------------------------------ transitions

    def _to(self, state: State, t: float, reason: str) -> None:
        if state != self.state:
            self.events(t, "state", frm=self.state.name, to=state.name, reason=reason)
            self.state, self.since, self.reason = state, t, reason

    def abort(self, t: float, reason: str, source: str = "operator") -> None:
        """Never refused. From RUNNING/ARMED: safing, then SAFE. In SAFE/ABORTING/FAULT: the
        safing sequence is (re)asserted; a latched FAULT stays latched."""
        self.events(t, "abort", reason=reason, source=source, state=self.state.name)
        for cb in self.on_abort:
            cb(t, reason)
        if self.state in (State.ARMED, State.RUNNING):
            self.abort_reason = self.abort_reason or reason
            self._to(State.ABORTING, t, reason)
            self.safing.start(t, self.commands)
        elif self.state == State.FAULT:
            self.safing.start(t, self.commands)
        elif self.state == State.SAFE:
            self.safing.start(t, self.commands)
        # ABORTING: already safing; keep going

    def fault(self, t: float, reason: str) -> None:
        """Latch FAULT and run the safing sequence (the firmware watchdog is the backstop)."""
        if self.state == State.FAULT:
            return
        self.fault_reason = self.fault_reason or reason
        self.events(t, "fault", reason=reason, state=self.state.name)
        for cb in self.on_abort:
            cb(t, reason)
        self._to(State.FAULT, t, reason)
        self.safing.start(t, self.commands)

    def reset(self, t: float) -> int | None:
        """Operator reset of a latched FAULT (and of the firmware's latch). Refused while the
        link is down or while any propellant valve or the igniter is still commanded open.
        Returns the firmware command sequence number when a firmware reset was sent."""
        if self.state not in (State.FAULT, State.SAFE):
            raise Refused(f"reset is only for a latched fault; the stand is {self.state.name}")
        if not self.comm_ok:
            raise Refused("cannot reset: no communication with the stand")
        if self.safing.active:
            raise Refused("cannot reset: the safing sequence is still running")
        for a in self.stand.actuators:
            if (a.propellant != "none" or a.kind == "igniter") and self.commands.get(a.name) != 0:
                raise Refused(f"cannot reset: {a.name} is still commanded open")
        seq = None
        if self.stand.firmware is not None and self.fw_state == fw.FwState.SAFED:
            seq = self.commands.firmware_command(fw.Command.RESET)
        self.events(t, "reset", state=self.state.name)
        self.fault_reason = ""
        self.abort_reason = ""
        self._to(State.SAFE, t, "operator reset")
        return seq

    def manual_set(self, t: float, name: str, value: float) -> float:
        """Manual output: only in SAFE."""
        if self.state != State.SAFE:
            raise Refused(f"manual outputs are only accepted in SAFE; the stand is {self.state.name}")
        if self.safing.active:
            raise Refused("the safing sequence is still running")
        if name not in self.commands.index:
            raise Refused(f"no actuator named {name!r}")
        if self.stand.firmware is not None and self.fw_state == fw.FwState.SAFED:
            raise Refused("the firmware has the stand latched SAFED: reset it first")
        v = self.commands.set(name, value)
        self.events(t, "manual", actuator=name, value=v)
        return v

    def arm(self, t: float, checks: list[str]) -> None:
        """SAFE → ARMED if every precondition holds; ``checks`` lists the ones that failed."""
        if self.state != State.SAFE:
            raise Refused(f"arm needs SAFE; the stand is {self.state.name}")
        if self.safing.active:
            checks = [*checks, "the safing sequence is still running"]
        if checks:
            raise Refused("cannot arm: " + "; ".join(checks))
        self._to(State.ARMED, t, "armed by operator")

    def start(self, t: float) -> None:
        """ARMED → RUNNING."""
        if self.state != State.ARMED:
            raise Refused(f"start needs ARMED; the stand is {self.state.name}")
        self._to(State.RUNNING, t, "sequence started")

    def complete(self, t: float, reason: str = "sequence complete") -> None:
        """A sequence that ended normally still runs the safing routine on its way to SAFE."""
        if self.state == State.RUNNING:
            self.events(t, "complete", reason=reason)
            self.safing.start(t, self.commands)  # runs on in SAFE: purge, everything closed
            self._to(State.SAFE, t, reason)

    # ------------------------------------------------------------------ every cycle

    def on_cycle(self, t: float, comm_ok: bool, system: np.ndarray | None) -> None:
        """Track the link and the firmware; drive the safing routine."""
        self.t = t
        self.comm_ok = comm_ok
        if system is not None and comm_ok and self.stand.firmware is not None:
            state, trips = int(system[fw.IR_STATE]), int(system[fw.IR_TRIPS])
            if state == fw.FwState.SAFED and self.fw_state != fw.FwState.SAFED:
                names = [tr.name.lower() for tr in fw.Trip if trips & tr] or ["unknown"]
                self.events(t, "firmware_trip", trips=names)
                if self.state != State.FAULT:
                    self.fault(t, f"firmware safed the stand ({', '.join(names)})")
            self.fw_state, self.fw_trips = state, trips
        if self.state in (State.ABORTING, State.FAULT) or self.safing.active:
            self.safing.apply(t, self.commands)
            if self.state == State.ABORTING and self.safing.done:
                self._to(State.SAFE, t, "safing complete")

    @property
    def status(self) -> SupervisorStatus:
        """Snapshot for clients."""
        return SupervisorStatus(self.state.name, self.reason, self.since, self.fw_state, self.fw_trips, self.comm_ok)


def median(xs: list[float]) -> float:
    """Median of a short list (a few redundant sensors): numpy's costs ~40 µs a call."""
    n = len(xs)
    if n == 1:
        return xs[0]
    if n == 2:
        return 0.5 * (xs[0] + xs[1])
    s = sorted(xs)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


class RedlineMonitor:
    """Checks the stand's redlines and a sequence's enabled ones every cycle, disqualifies
    sensors that are out of their valid range or frozen, and aborts (or faults) the stand.

    A disqualified sensor is reported and no longer trusted; it is not by itself a reason to
    abort. Losing every sensor a redline depends on while burning is: the stand would be
    flying blind, so that latches FAULT.
    """

    def __init__(self, stand: StandConfig, extra: tuple[Any, ...] = ()) -> None:
        from hil.config import Redline

        self.stand = stand
        self.redlines: tuple[Redline, ...] = tuple(stand.redlines) + tuple(extra)
        self.enabled = {r.name for r in self.redlines if r.enabled}
        self.counts = {r.name: 0 for r in self.redlines}
        self.tripped: list[str] = []
        self.first_violation: dict[str, float] = {}
        names = [c.name for c in stand.channels]
        self.index = {n: i for i, n in enumerate(names)}
        self.rl_idx = {r.name: [self.index[c] for c in r.channels] for r in self.redlines}
        self.frozen_n = np.array([c.frozen_s for c in stand.channels])
        self.disqualified = np.zeros(len(names), dtype=bool)
        self.why: dict[str, str] = {}
        self._last = np.full(len(names), np.nan)
        self._same = np.zeros(len(names))
        self._prev_value = {r.name: np.nan for r in self.redlines}
        self._prev_t = 0.0

    def enable(self, names: tuple[str, ...]) -> None:
        """Switch on phase-gated redlines (a sequence step)."""
        self.enabled.update(names)

    def disable(self, names: tuple[str, ...]) -> None:
        """Switch off phase-gated redlines; a stand's always-on ones cannot be disabled."""
        for n in names:
            rl = next(r for r in self.redlines if r.name == n)
            if not (rl.enabled and rl in self.stand.redlines):
                self.enabled.discard(n)

    def on_cycle(self, loop: Any) -> None:
        t = loop.t
        vals = loop.values
        sup: Supervisor = loop.supervisor
        if not sup.comm_ok or not np.isfinite(vals).any():
            self._prev_t = t
            return
        # --- sensor qualification
        dt = t - self._prev_t if self._prev_t else 0.0
        same = vals == self._last
        self._same = np.where(same, self._same + dt, 0.0)
        self._last = vals.copy()
        bad = ~loop.valid | ((self.frozen_n > 0) & (self._same >= self.frozen_n))
        newly = bad & ~self.disqualified
        if newly.any():
            for i in np.flatnonzero(newly):
                ch = self.stand.channels[i]
                reason = (f"frozen at {vals[i]:g} {ch.units} for {self._same[i]:.2f} s" if loop.valid[i]
                          else f"reading {vals[i]:g} {ch.units} is outside its valid range {ch.valid}")
                self.why[ch.name] = reason
                loop.event(t, "sensor_disqualified", channel=ch.name, reason=reason)
            self.disqualified |= newly
        if sup.state == State.SAFE and self.disqualified.any():
            back = self.disqualified & ~bad  # a sensor that recovered may be trusted again, but only in SAFE
            for i in np.flatnonzero(back):
                loop.event(t, "sensor_requalified", channel=self.stand.channels[i].name)
            self.disqualified &= bad
        loop.disqualified = self.disqualified
        # --- redlines
        running = sup.state == State.RUNNING
        burning = running and getattr(loop, "burning", False)
        vlist = vals.tolist()
        dq = self.disqualified.tolist()
        for rl in self.redlines:
            if rl.name not in self.enabled:
                continue
            if (rl.when == "running" and not running) or (rl.when == "burning" and not burning):
                self.counts[rl.name] = 0
                continue
            idx = self.rl_idx[rl.name]
            ok = [i for i in idx if not dq[i]]
            if not ok:
                if burning:
                    lost = "; ".join(f"{self.stand.channels[i].name}: {self.why.get(self.stand.channels[i].name, '?')}"
                                     for i in idx)
                    sup.fault(t, f"redline {rl.name}: every sensor it watches is disqualified ({lost})")
                continue
            v = median([vlist[i] for i in ok])
            why = self._violation(rl, v, t, dt, loop)
            self._prev_value[rl.name] = v
            if why:
                if self.counts[rl.name] == 0:
                    self.first_violation[rl.name] = t
                self.counts[rl.name] += 1
                if self.counts[rl.name] >= rl.persistence:
                    self._trip(loop, rl.name, why)
            else:
                self.counts[rl.name] = 0
        self._prev_t = t

    def _violation(self, rl: Any, v: float, t: float, dt: float, loop: Any) -> str:
        if v > rl.max:
            return f"{v:.4g} > max {rl.max:g}"
        if v < rl.min:
            return f"{v:.4g} < min {rl.min:g}"
        if rl.relative:
            sp = getattr(loop, "pc_setpoint", float("nan"))
            moved = getattr(loop, "pc_setpoint_moved_at", 0.0)
            if np.isfinite(sp) and sp > 0 and t - moved >= rl.settle_s:
                if v > rl.max_frac * sp:
                    return f"{v:.4g} > {rl.max_frac:g} × command {sp:.4g}"
                if v < rl.min_frac * sp:
                    return f"{v:.4g} < {rl.min_frac:g} × command {sp:.4g}"
        if np.isfinite(rl.max_rate) and dt > 0:
            prev = self._prev_value[rl.name]
            if np.isfinite(prev) and abs(v - prev) / dt > rl.max_rate:
                return f"rate {abs(v - prev) / dt:.4g}/s > {rl.max_rate:g}/s"
        return ""

    def _trip(self, loop: Any, name: str, why: str) -> None:
        sup: Supervisor = loop.supervisor
        first = self.first_violation.get(name, loop.t)
        if sup.state in (State.ARMED, State.RUNNING):
            self.tripped.append(name)
            loop.event(loop.t, "redline", redline=name, detail=why, first_violation_t=first,
                       cycles_since_first=int(round((loop.t - first) * loop.rate_hz)))
            sup.abort(loop.t, f"redline {name}: {why}", source="redline")
        elif self.counts[name] == next(r.persistence for r in self.redlines if r.name == name):
            loop.event(loop.t, "redline_outside_run", redline=name, detail=why)
