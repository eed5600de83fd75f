"""The staged start, enforced by the stand whatever path a command came from (a sequence step,
a ramp, the throttle loop, a manual setting): the ``start`` stage of the cycle.

A start that opens the main valves fully onto an igniter that is late piles up propellant and
hard-starts (the campaign of issue 24: 80 of 80 late ignitions above the overpressure limit).
The stand's ``[ignition]`` table bounds what can accumulate:

- ``max_open_before_confirm``: until ignition is confirmed (the ignition monitor's ``burning``),
  no chamber propellant valve is commanded *further open* than this (%, per valve or one value
  for all). Closing is never refused, so a shutdown whose fuel lags the LOX is not an opening.
- ``igniter_channel`` / ``igniter_proven_above``: no chamber propellant valve is opened further
  while the igniter's own signal (igniter chamber pressure, flame detector) is not above the
  threshold — unknown (NaN) is not proven.
- ``stage_window_s``: ignition confirmed within this long of the first chamber propellant valve
  opening (a LOX lead counts), so a lead cannot flow unbounded before the fuel.
- ``hard_start_rate`` / ``hard_start_above``: a start going hard — the ignition channel rising
  faster than the rate for ``hard_start_samples`` cycles, or above the level — from the first
  valve opening until ``start_transient_s`` after ignition is confirmed, shuts every propellant
  valve (chamber and gas generator) and the igniter in the cycle it is seen, and aborts. The
  safing routine would close the fuel only after its lag; a hard start is no time for a
  fuel-rich shutdown.

During a run the stage sees the command image after the sequence and the throttle have written
it: an opening that breaks a rule is taken back (the valve keeps last cycle's command, so it
never reaches the wire) and the run is aborted with the reason. The sequencer asks
:meth:`StartInterlock.refusal` before it commands a step, so a refused step is named with its
line; the controller asks it before a manual setting in SAFE that would open both propellants.
A cold-flow sequence (``cold_flow = true``: no ignition required) is not a start.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from hil.cycle import CycleState
from hil.safety.ignition import IgnitionMonitor
from hil.safety.supervisor import EventSink, State, Supervisor
from hil.stand import StandConfig
from hil.stand.iomap import Commands


class StartInterlock:
    """The ``start`` stage: refuses openings that break the staged start (no cycle-state field)."""

    name = "start"

    def __init__(self, stand: StandConfig, supervisor: Supervisor, commands: Commands, ignition: IgnitionMonitor,
                 events: EventSink) -> None:
        self.cfg = stand.ignition
        self.supervisor = supervisor
        self.commands = commands
        self.ignition = ignition
        self.events = events
        self.valves = ignition.ox + ignition.fuel
        self.limits: dict[str, float] = dict(self.cfg.max_open_before_confirm) if self.cfg else {}
        channels = [c.name for c in stand.channels]
        ch = self.cfg.igniter_channel if self.cfg is not None else None
        self._igniter = channels.index(ch) if ch is not None else -1
        self.igniter_reading = math.nan
        self._prev = {n: 0.0 for n in self.valves}  # the command image as this stage last let it through
        self._at = [commands.index[n] for n in self.valves]  # their places in the command image
        self._named_at = list(zip(self.valves, self._at, strict=True))
        self.first_open_at: float | None = None  # a chamber propellant valve open since (not yet lit)
        self.lit = False  # ignition was confirmed since the valves opened
        self.lit_at: float | None = None
        # what a hard start cuts at once: propellant valves of the chamber and the gas generator, igniters
        self.cut = [a.name for a in stand.actuators
                    if (a.propellant in ("ox", "fuel") and a.feeds in ("chamber", "gg")) or a.kind == "igniter"]
        pcs = stand.limits.pc_channels or (stand.limits.pc_channel,)
        watched = pcs if self.cfg is not None and self.cfg.channel in pcs else \
            ((self.cfg.channel,) if self.cfg is not None else ())
        self._watch = [channels.index(n) for n in watched]
        self.start_reading = math.nan  # what the hard-start check reads this cycle
        self._v_prev = math.nan
        self._t_prev = math.nan
        self._rising = 0
        self.hard_start_at: float | None = None  # when a hard start was seen (and cut)

    @property
    def active(self) -> bool:
        """The rules apply: the stand states them, ignition is not confirmed, the sequence lights."""
        return self.cfg is not None and self.ignition.requires_ignition and not self.ignition.burning

    def refusal(self, changes: Iterable[tuple[str, float]] = ()) -> str:
        """Why the command image (after ``changes``, name → value) would break the staged start;
        '' when it would not. Only openings count: a valve that closes or stays is never refused."""
        if not self.active:
            return ""
        cfg = self.cfg
        assert cfg is not None
        over = dict(changes)
        why = []
        for n in self.valves:
            old = self._prev[n] if not over else self.commands.get(n)
            new = over.get(n, self.commands.get(n))
            if new <= old + 1e-9:
                continue
            lim = self.limits.get(n)
            if lim is not None and new > lim + 1e-9:
                why.append(f"{n} commanded {new:g} % before ignition is confirmed; the ignition stage allows "
                           f"{lim:g} % (max_open_before_confirm)")
            if self._igniter >= 0 and new > 0 and not self.igniter_reading > cfg.igniter_proven_above:
                why.append(f"{n} commanded open with the igniter not proven: {cfg.igniter_channel} "
                           f"{self.igniter_reading:.3g} not above igniter_proven_above {cfg.igniter_proven_above:g}")
        return "start interlock: " + "; ".join(why) if why else ""

    def manual_refusal(self, name: str, value: float) -> str:
        """A manual setting (SAFE) that would open both chamber propellants by hand breaking the
        staged start ('' if it would not; one valve alone, e.g. for a valve timing, is no start)."""
        if name not in self.valves or not self.ignition.propellants_open(((name, value),)):
            return ""
        return self.refusal(((name, value),))

    def on_cycle(self, cs: CycleState) -> None:
        # a hard start drives the transducers past their valid range at once (disqualified, so the
        # trusted Pc is NaN): the check reads their decoded values, the lowest of them, so one
        # transducer failing high cannot fake a hard start that the others do not see
        seen = [float(cs.values[i]) for i in self._watch if math.isfinite(cs.values[i])]
        self.start_reading = min(seen) if seen else math.nan
        if self._igniter >= 0:
            i = self._igniter
            self.igniter_reading = float(cs.values[i]) if cs.valid[i] and not cs.disqualified[i] else math.nan
        t = cs.t
        sup = self.supervisor
        running = sup.state == State.RUNNING
        if running and self.active:
            why = self.refusal()
            if why:
                for n in self.valves:  # taken back: it never reaches the wire
                    if self.commands.get(n) > self._prev[n] + 1e-9:
                        self.commands.set(n, self._prev[n])
                self.events(t, "start_refused", reason=why)
                sup.abort(t, why, source="start")
        eng, at = self.commands.eng, self._at  # the live command image (what commands.get reads)
        any_open = any(float(eng[i]) > 0 for i in at)
        if not any_open:
            self.first_open_at, self.lit, self.lit_at, self._rising = None, False, None, 0
        else:
            if self.first_open_at is None:
                self.first_open_at = t
            if self.ignition.burning and not self.lit:
                self.lit, self.lit_at = True, t
            why = self._hard_start(t) if running else ""
            if why:
                for n in self.cut:
                    self.commands.set(n, 0.0)
                self.hard_start_at = t
                self.events(t, "hard_start", reason=why, cut=self.cut)
                sup.abort(t, why, source="start")
            cfg = self.cfg
            if (running and cfg is not None and cfg.stage_window_s is not None and not self.lit
                    and self.ignition.requires_ignition and t - self.first_open_at > cfg.stage_window_s + 1e-9):
                sup.abort(t, f"ignition not confirmed within stage_window_s {cfg.stage_window_s:g} s of the first "
                             f"chamber propellant valve opening ({cfg.channel} {self.ignition.reading:.3g})",
                          source="start")
        prev = self._prev
        for n, i in self._named_at:
            prev[n] = float(eng[i])
        self._v_prev, self._t_prev = self.start_reading, t

    def _hard_start(self, t: float) -> str:
        """Why this cycle's reading says the start is going hard ('' if it does not)."""
        cfg = self.cfg
        if cfg is None or not self.ignition.requires_ignition or \
                (cfg.hard_start_rate is None and cfg.hard_start_above is None):
            return ""
        if self.lit_at is not None and t - self.lit_at > cfg.start_transient_s + 1e-9:
            return ""  # past the start transient: the redlines watch mainstage
        v = self.start_reading
        if cfg.hard_start_above is not None and v > cfg.hard_start_above:
            return (f"hard start: {cfg.channel} {v:.3g} above hard_start_above {cfg.hard_start_above:g} in the start "
                    f"transient; propellant valves shut")
        if cfg.hard_start_rate is None:
            return ""
        dt = t - self._t_prev
        rate = (v - self._v_prev) / dt if dt > 0 else math.nan
        self._rising = self._rising + 1 if rate > cfg.hard_start_rate else 0  # NaN is no rise
        if self._rising >= cfg.hard_start_samples:
            return (f"hard start: {cfg.channel} rising {rate:.0f}/s, above hard_start_rate {cfg.hard_start_rate:g}/s "
                    f"for {self._rising} cycles in the start transient; propellant valves shut")
        return ""
