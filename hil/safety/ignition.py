"""Ignition, flame-out and the relight interlocks, decided from the stand's `[ignition]` table
whatever the sequence happens to wait on.

- **Attempt**: both propellants feeding the chamber are commanded open, igniter or not (unlit
  flow is a burn attempt: it piles up propellant for whatever lights it), unless the running
  sequence is a cold flow (``requires_ignition`` false, set when a sequence is loaded).
- **Confirmed** when the ignition channel reads above ``confirm_above``; during a run, an attempt
  not confirmed within ``window_s`` is aborted (propellant piling up unlit is a hard start in
  the making). The channel is the trusted Pc (median of the stand's Pc transducers that are not
  disqualified) when it is one of them, so one failed transducer cannot fake a light or an out.
- **Flame-out**: a confirmed flame whose channel stays below ``relight_below`` for
  ``flameout_s`` with propellants still open aborts the run.
- **Relight interlocks**: after propellants have been open once, opening them again is refused
  while the channel is above ``relight_below``, the off-time is below ``min_off_s`` or the purge
  since the shutdown is below ``min_purge_s``. The sequencer asks before it commands a step that
  would open them (so a refused relight never reaches the wire); this stage aborts a run whose
  propellants open by any other path while an interlock holds. ``hil check`` checks the same
  three on the sequence's timeline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from hil.cycle import CycleState
from hil.safety.supervisor import EventSink, State, Supervisor
from hil.stand import StandConfig
from hil.stand.iomap import Commands


class IgnitionMonitor:
    """The ``ignition`` stage: produces ``cs.burning``."""

    name = "ignition"

    def __init__(self, stand: StandConfig, supervisor: Supervisor, commands: Commands, events: EventSink) -> None:
        self.cfg = stand.ignition
        self.supervisor = supervisor
        self.commands = commands
        self.events = events
        acts = stand.actuators
        self.ox = [a.name for a in acts if a.propellant == "ox" and a.feeds == "chamber"]
        self.fuel = [a.name for a in acts if a.propellant == "fuel" and a.feeds == "chamber"]
        self.igniters = [a.name for a in acts if a.kind == "igniter"]
        self.purges = [a.name for a in acts if a.kind == "purge"]
        index = commands.index
        self._ox, self._fuel = [index[n] for n in self.ox], [index[n] for n in self.fuel]
        self._igniters, self._purges = [index[n] for n in self.igniters], [index[n] for n in self.purges]
        channels = [c.name for c in stand.channels]
        pcs = stand.limits.pc_channels or (stand.limits.pc_channel,)
        self.use_trusted_pc = self.cfg is not None and self.cfg.channel in pcs
        self.channel = channels.index(self.cfg.channel) if self.cfg is not None else -1
        self.burning = False
        self.opened_at: float | None = None  # propellants commanded open since
        self.attempt = False  # they are open for a burn (a sequence that lights, or an igniter on)
        self.requires_ignition = True  # the loaded sequence lights the engine (False: cold flow)
        self.shutdown_at: float | None = None  # propellants last closed
        self.purge_s = 0.0  # purge commanded since that shutdown
        self.burns = 0
        self._low_since: float | None = None
        self._t_prev: float | None = None
        self.reading = math.nan
        # the last known reading and when: a relight interlock may use it for as long as its
        # device's held values count as fresh (one missed DAQ answer is not a hot chamber)
        self._known, self._known_t = math.nan, -math.inf
        dev = stand.device(stand.channel(self.cfg.channel).device) if self.cfg is not None else None
        self._known_for = dev.stale_after(stand.loop.rate_hz) if dev is not None else 0.0

    # ------------------------------------------------------------------ questions others ask

    def propellants_open(self, changes: Iterable[tuple[str, float]] = ()) -> bool:
        """Both propellants commanded open, now or after ``changes`` (name, value) were applied."""
        eng = self.commands.eng
        if not changes:  # every cycle: the command image as it stands
            return any(eng[i] > 0 for i in self._ox) and any(eng[i] > 0 for i in self._fuel)
        over = dict(changes)

        def is_open(names: list[str]) -> bool:
            return any(over.get(n, self.commands.get(n)) > 0 for n in names)

        return is_open(self.ox) and is_open(self.fuel)

    def relight_refusal(self, t: float) -> str:
        """Why opening the propellants now would break a relight interlock ('' if it would not)."""
        cfg = self.cfg
        if cfg is None or self.shutdown_at is None:
            return ""
        why = []
        v, note = self.reading, ""
        if v != v and t - self._known_t <= self._known_for:  # unknown this cycle: the last reading, while fresh
            v, note = self._known, f" (last known {(t - self._known_t) * 1e3:.0f} ms ago)"
        if not v <= cfg.relight_below:  # NaN (no trustworthy reading) refuses too
            why.append(f"{cfg.channel} {v:.3g}{note} is not below relight_below {cfg.relight_below:g}")
        off = t - self.shutdown_at
        if off < cfg.min_off_s - 1e-9:
            why.append(f"off for {off:.3g} s, min_off_s is {cfg.min_off_s:g} s")
        if self.purge_s < cfg.min_purge_s - 1e-9:
            why.append(f"purged {self.purge_s:.3g} s since the shutdown, min_purge_s is {cfg.min_purge_s:g} s")
        return "relight refused: " + "; ".join(why) if why else ""

    # ------------------------------------------------------------------ the stage

    def on_cycle(self, cs: CycleState) -> None:
        t = cs.t
        dt = t - self._t_prev if self._t_prev is not None else 0.0
        self._t_prev = t
        if self.cfg is None:
            cs.burning = False
            return
        self.reading = self._read(cs)
        if self.reading == self.reading:
            self._known, self._known_t = self.reading, t
        eng = self.commands.eng
        if self.shutdown_at is not None and any(eng[i] > 0 for i in self._purges):
            self.purge_s += dt
        if self.propellants_open():
            self._open(cs, t)
        elif self.opened_at is not None:
            self._closed(t)
        cs.burning = self.burning

    def _read(self, cs: CycleState) -> float:
        if self.use_trusted_pc:
            return cs.pc
        i = self.channel
        return float(cs.values[i]) if cs.valid[i] and not cs.disqualified[i] else math.nan

    def _open(self, cs: CycleState, t: float) -> None:
        cfg = self.cfg
        assert cfg is not None
        sup = self.supervisor
        running = sup.state == State.RUNNING
        if self.opened_at is None:
            self.opened_at, self.attempt, self._low_since = t, False, None
            refusal = self.relight_refusal(t)
            if refusal and running:
                sup.abort(t, refusal, source="ignition")
        if not self.attempt:
            eng = self.commands.eng
            self.attempt = self.requires_ignition or any(eng[i] > 0 for i in self._igniters)
        v = self.reading
        if not self.burning:
            if v > cfg.confirm_above:
                self.burning = True
                self.burns += 1
                self.events(t, "ignition_confirmed", after_s=round(t - self.opened_at, 4), channel=cfg.channel,
                            value=round(v, 4))
            elif self.attempt and running and t - self.opened_at > cfg.window_s + 1e-9:
                sup.abort(t, f"ignition not confirmed: {cfg.channel} {v:.3g} not above {cfg.confirm_above:g} "
                             f"within {cfg.window_s:g} s of the propellants opening", source="ignition")
            return
        if v < cfg.relight_below:
            if self._low_since is None:
                self._low_since = t
            if t - self._low_since + 1e-9 >= cfg.flameout_s:
                self.burning = False
                self.events(t, "flameout", channel=cfg.channel, value=round(v, 4))
                if running:
                    sup.abort(t, f"flame-out: {cfg.channel} {v:.3g} below {cfg.relight_below:g} for "
                                 f"{cfg.flameout_s:g} s with propellants open", source="ignition")
        else:
            self._low_since = None

    def _closed(self, t: float) -> None:
        if self.burning:
            self.events(t, "shutdown_commanded")
        self.burning = False
        self.opened_at = None
        self.shutdown_at = t
        self.purge_s = 0.0
