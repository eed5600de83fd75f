"""Valve position disagreement: a valve whose position feedback does not follow its command.

Why: a stuck main valve is invisible to pressure redlines until its effect shows — a fuel
valve stuck open at shutdown leaves the stand "completed" and safe only because the isolation
valve closed behind it. Comparing each valve's command with its feedback catches it at once:
during a run it aborts; with the stand shut down, a propellant valve still open latches FAULT
(propellant may be flowing, and nobody may re-arm before looking at it).
"""

from __future__ import annotations

from dataclasses import dataclass

from hil.cycle import CycleState
from hil.safety.supervisor import EventSink, State, Supervisor
from hil.stand import StandConfig
from hil.stand.iomap import Commands


@dataclass
class _Pair:
    name: str
    cmd_index: int
    pos_index: int
    lo: float
    span: float
    propellant: bool
    since: float | None = None
    flagged: bool = False
    flag_cmd: float = 0.0  # the command it disagreed with; a new command is judged afresh


class ValveWatch:
    """The ``valves`` stage; compares every valve that has position feedback (in % open) with
    its command (as % of the actuator's range)."""

    name = "valves"

    def __init__(self, stand: StandConfig, supervisor: Supervisor, commands: Commands, events: EventSink) -> None:
        self.supervisor = supervisor
        self.commands = commands
        self.events = events
        self.tol = stand.limits.valve_track_pct
        self.hold_s = stand.limits.valve_track_s
        chans = {c.name: i for i, c in enumerate(stand.channels)}
        self.pairs = [_Pair(a.name, k, chans[a.feedback], a.range[0], (a.range[1] - a.range[0]) or 1.0,
                            a.propellant != "none")
                      for k, a in enumerate(stand.actuators) if a.feedback and a.feedback in chans]

    def disagreeing(self) -> list[str]:
        """Valves whose position has disagreed with their command for longer than the hold time."""
        return [p.name for p in self.pairs if p.flagged]

    def on_cycle(self, cs: CycleState) -> None:
        if not self.pairs or not cs.comm_ok:
            return
        t = cs.t
        cmds = self.commands.eng
        vals, valid, dq = cs.values, cs.valid, cs.disqualified
        for p in self.pairs:
            pos = float(vals[p.pos_index])
            if not valid[p.pos_index] or dq[p.pos_index] or pos != pos:
                p.since = None  # no trustworthy feedback: nothing to compare (the sensor is reported already)
                continue
            cmd = (float(cmds[p.cmd_index]) - p.lo) / p.span * 100.0
            if abs(cmd - pos) <= self.tol:
                p.since = None
                if p.flagged:
                    p.flagged = False
                    self.events(t, "valve_agrees", valve=p.name, command_pct=round(cmd, 1), position_pct=round(pos, 1))
                continue
            if p.flagged and abs(cmd - p.flag_cmd) > self.tol:
                p.flagged, p.since = False, t  # e.g. still open after the abort closed it: act again
            if p.since is None:
                p.since = t
            if p.flagged or t - p.since < self.hold_s:
                continue
            p.flagged, p.flag_cmd = True, cmd
            why = (f"valve {p.name} is not following its command: commanded {cmd:.0f} %, at {pos:.0f} % "
                   f"for {t - p.since:.2f} s")
            self.events(t, "valve_disagree", valve=p.name, command_pct=round(cmd, 1), position_pct=round(pos, 1))
            sup = self.supervisor
            if sup.state in (State.ARMED, State.RUNNING):
                sup.abort(t, why, source="valve")
            elif p.propellant and cmd <= self.tol and sup.state != State.FAULT:
                sup.fault(t, why + " (propellant may be flowing)")
