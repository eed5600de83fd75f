"""The stand state machine and the safing routine every exit path runs.

States (DESIGN.md): SAFE → ARMED → RUNNING → (complete → SAFE) or ABORTING → SAFE; FAULT is
latched (communication loss, firmware trip, a sensor disqualified during a burn) and needs an
operator reset. Only SAFE accepts manual outputs, only ARMED accepts START, and ABORT is
accepted in every state, never refused.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

import numpy as np

from hil.errors import Refused
from hil.stand import StandConfig
from hil.stand import firmware_map as fw
from hil.stand.iomap import Commands


class State(IntEnum):
    """Stand state; the integer is what the recorder stores per cycle."""

    SAFE = 0
    ARMED = 1
    RUNNING = 2
    ABORTING = 3
    FAULT = 4


STATE_NAMES = tuple(s.name for s in State)

EventSink = Callable[..., None]  # (t, kind, **fields)


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
        self.fw_state = 0
        self.fw_trips = 0
        self.comm_ok = True
        self.abort_reason = ""
        self.fault_reason = ""

    # ------------------------------------------------------------------ transitions

    def _to(self, state: State, t: float, reason: str) -> None:
        if state != self.state:
            self.events(t, "state", frm=self.state.name, to=state.name, reason=reason)
            self.state, self.since, self.reason = state, t, reason

    def abort(self, t: float, reason: str, source: str = "operator") -> None:
        """Never refused. From RUNNING/ARMED: safing, then SAFE. In SAFE/ABORTING/FAULT: the
        safing sequence is (re)asserted; a latched FAULT stays latched."""
        self.events(t, "abort", reason=reason, source=source, state=self.state.name)
        if self.state in (State.ARMED, State.RUNNING):
            self.abort_reason = self.abort_reason or reason
            self._to(State.ABORTING, t, reason)
            self.safing.start(t, self.commands)
        elif self.state == State.FAULT:
            self.safing.start(t, self.commands)
        elif self.state == State.SAFE:
            self.safing.start(t, self.commands)
        else:  # ABORTING: already safing; re-assert every step that is due, now
            self.safing.apply(t, self.commands)

    def fault(self, t: float, reason: str) -> None:
        """Latch FAULT and run the safing sequence (the firmware watchdog is the backstop)."""
        if self.state == State.FAULT:
            return
        self.fault_reason = self.fault_reason or reason
        self.events(t, "fault", reason=reason, state=self.state.name)
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
        for name in self.open_hazards():
            raise Refused(f"cannot reset: {name} is still commanded open")
        seq = None
        if self.stand.firmware is not None and self.fw_state == fw.FwState.SAFED:
            seq = self.commands.firmware_command(fw.Command.RESET)
        self.events(t, "reset", state=self.state.name)
        self.fault_reason = ""
        self.abort_reason = ""
        self._to(State.SAFE, t, "operator reset")
        return seq

    def open_hazards(self) -> list[str]:
        """Propellant valves and igniters commanded anything but closed/off."""
        return [a.name for a in self.stand.actuators
                if (a.propellant != "none" or a.kind == "igniter") and self.commands.get(a.name) != 0]

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
        # a new run: its reasons are its own (hil/record/summary.py computes its outcome from its events)
        self.abort_reason = self.fault_reason = ""
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
        self.comm_ok = comm_ok
        if system is not None and comm_ok and self.stand.firmware is not None:
            state, trips = int(system[fw.IR_STATE]), int(system[fw.IR_TRIPS])
            if state == fw.FwState.SAFED and self.fw_state != fw.FwState.SAFED:
                names = [tr.name.lower() for tr in fw.Trip if trips & tr] or ["unknown"]
                self.events(t, "firmware_trip", trips=names,
                            reason="; ".join(fw.TRIP_TEXT[tr] for tr in fw.Trip if trips & tr) or "unknown")
                if self.state != State.FAULT:
                    self.fault(t, f"firmware safed the stand ({', '.join(names)})")
            self.fw_state, self.fw_trips = state, trips
        if self.state in (State.ABORTING, State.FAULT) or self.safing.active:
            self.safing.apply(t, self.commands)
            if self.state == State.ABORTING and self.safing.done:
                self._to(State.SAFE, t, "safing complete")
