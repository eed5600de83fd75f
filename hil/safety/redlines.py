"""Redlines, checked every cycle outside the sequence.

One monitor per controller. The stand's redlines are always installed; a sequence's phase-gated
ones are installed when it is loaded and replaced by the next load. A sequence may enable or
disable its own and the stand's optional ones, never an always-on stand redline. A redline reads
the median of its sensors that the ``sensors`` stage still trusts; losing every one of them
during a burn latches FAULT (the stand would be flying blind). A redline whose sensors are
trusted but have no fresh sample (a slow or late device: their values are unknown) waits up to
its ``blind_after`` (hil/safety/blind.py); past it, during a burn, it latches FAULT too.
"""

from __future__ import annotations

from math import isfinite

import numpy as np

from hil.cycle import CycleState
from hil.safety.blind import blind_after
from hil.safety.sensors import SensorQualifier, median
from hil.safety.supervisor import EventSink, State, Supervisor
from hil.stand import Redline, StandConfig

_RUNNING, _BURNING = "running", "burning"


_INF = float("inf")
_FAR = (_INF, 0.0, 0.0)


class RedlineMonitor:
    """The ``redlines`` stage."""

    name = "redlines"

    def __init__(self, stand: StandConfig, supervisor: Supervisor, sensors: SensorQualifier,
                 events: EventSink, rate_hz: float) -> None:
        self.stand = stand
        self.supervisor = supervisor
        self.sensors = sensors
        self.events = events
        self.rate_hz = rate_hz
        self.index = {c.name: i for i, c in enumerate(stand.channels)}
        self.tripped: list[str] = []
        self.install(())

    def install(self, sequence_redlines: tuple[Redline, ...]) -> None:
        """Replace the sequence's redlines (a load); the stand's own stay as they are."""
        self.redlines: tuple[Redline, ...] = tuple(self.stand.redlines) + tuple(sequence_redlines)
        self.enabled = {r.name for r in self.redlines if r.enabled}
        self.always_on = {r.name for r in self.stand.redlines if r.enabled}
        self.counts = {r.name: 0 for r in self.redlines}
        # each redline's closest approach while it was watched: (margin in the channel's units,
        # loop time, value); a campaign compares engines by it
        self.closest: dict[str, tuple[float, float, float]] = {}
        self.first_violation: dict[str, float] = {}
        self.channels = {r.name: [self.index[c] for c in r.channels] for r in self.redlines}
        self._prev_value = {r.name: float("nan") for r in self.redlines}
        self._prev_sample = {r.name: float("nan") for r in self.redlines}
        # what each cycle needs per redline, looked up once per load (the loop runs at 1 kHz)
        self._plan = [(r, r.name, str(r.when), self.channels[r.name]) for r in self.redlines]
        self.blind_after = {r.name: blind_after(r, self.stand, self.rate_hz) for r in self.redlines}
        self.blind: set[str] = set()  # redlines blind now (reported once per episode)

    def new_run(self) -> None:
        """A run is armed: its margins and trips are its own, not those of an earlier run of the
        same loaded sequence (a service runs many)."""
        self.closest.clear()
        self.first_violation.clear()
        self.tripped = []

    def enable(self, names: tuple[str, ...]) -> None:
        """Switch on phase-gated redlines (a sequence step)."""
        self.enabled.update(names)

    def disable(self, names: tuple[str, ...]) -> None:
        """Switch off phase-gated redlines; a stand's always-on ones cannot be disabled."""
        self.enabled.difference_update(set(names) - self.always_on)

    def on_cycle(self, cs: CycleState) -> None:
        t = cs.t
        sup = self.supervisor
        if not cs.comm_ok or not np.count_nonzero(np.isfinite(cs.values)):  # .any(), cheaper
            return
        running = sup.state == State.RUNNING
        burning = running and cs.burning
        vlist = cs.values.tolist()
        dq = cs.disqualified.tolist()
        fresh = cs.fresh.tolist()
        counts, enabled, prev_value, prev_sample = self.counts, self.enabled, self._prev_value, self._prev_sample
        for rl, name, when, idx in self._plan:
            if name not in enabled:
                continue
            if (when == _RUNNING and not running) or (when == _BURNING and not burning):
                counts[name] = 0
                continue
            if len(idx) == 1 and not dq[idx[0]] and fresh[idx[0]] and vlist[idx[0]] == vlist[idx[0]]:
                # one trusted transducer with a fresh, known sample (the common cycle): what the
                # general path below gives, without building its lists
                v = vlist[idx[0]]
            else:
                ok = [i for i in idx if not dq[i]]
                if not ok:
                    if burning:
                        names = [self.stand.channels[i].name for i in idx]
                        lost = "; ".join(f"{n}: {self.sensors.why.get(n, '?')}" for n in names)
                        sup.fault(t, f"redline {name}: every sensor it watches is disqualified ({lost})")
                    continue
                if not any(fresh[i] for i in ok):
                    # a slow device's held value: persistence counts samples, not cycles
                    limit = self.blind_after[name]
                    if limit != _INF and limit < cs.age[ok].min():
                        self._blind(t, rl, ok, cs, burning)
                    continue
                known = [i for i in ok if vlist[i] == vlist[i]]  # a channel of a late device is NaN
                v = vlist[known[0]] if len(known) == 1 else median([vlist[i] for i in known])
            if name in self.blind:
                self.blind.discard(name)
                self.events(t, "redline_sees", redline=name)
            prev_t = prev_sample[name]
            why = self._violation(rl, v, t, t - prev_t if isfinite(prev_t) else 0.0, cs)
            m = self._margin(rl, v, t, cs)
            if m < self.closest.get(name, _FAR)[0]:
                self.closest[name] = (m, t, v)
            prev_value[name] = v
            prev_sample[name] = t
            if not why:
                counts[name] = 0
                continue
            if counts[name] == 0:
                self.first_violation[name] = t
            counts[name] += 1
            if counts[name] >= rl.persistence:
                self._trip(t, rl, why)

    def _blind(self, t: float, rl: Redline, idx: list[int], cs: CycleState, burning: bool) -> None:
        """No fresh sample for longer than the redline's tolerance: FAULT during a burn (the
        stand is flying blind), else reported once."""
        age = float(cs.age[idx].min())
        why = "; ".join(f"{self.stand.channels[i].name}: {self.sensors.unknown.get(self.stand.channels[i].name, 'no fresh sample')}"
                        for i in idx)
        msg = (f"redline {rl.name} is blind: no fresh sample for {age * 1e3:.1f} ms, more than its "
               f"{self.blind_after[rl.name] * 1e3:.0f} ms tolerance ({why})")
        if burning:
            self.supervisor.fault(t, msg)
        elif rl.name not in self.blind:
            self.events(t, "redline_blind", redline=rl.name, detail=msg)
        self.blind.add(rl.name)

    def _violation(self, rl: Redline, v: float, t: float, dt: float, cs: CycleState) -> str:
        if v > rl.max:
            return f"{v:.4g} > max {rl.max:g}"
        if v < rl.min:
            return f"{v:.4g} < min {rl.min:g}"
        if rl.relative:
            sp = cs.pc_setpoint
            if isfinite(sp) and sp > 0 and t - cs.pc_setpoint_moved_at >= rl.settle_s:
                if v > rl.max_frac * sp:
                    return f"{v:.4g} > {rl.max_frac:g} × command {sp:.4g}"
                if v < rl.min_frac * sp:
                    return f"{v:.4g} < {rl.min_frac:g} × command {sp:.4g}"
        if dt > 0 and isfinite(rl.max_rate):
            prev = self._prev_value[rl.name]
            if isfinite(prev) and abs(v - prev) / dt > rl.max_rate:
                return f"rate {abs(v - prev) / dt:.4g}/s > {rl.max_rate:g}/s"
        return ""

    @staticmethod
    def _margin(rl: Redline, v: float, t: float, cs: CycleState) -> float:
        """How far ``v`` is from the nearest limit this redline applies now (negative: beyond
        it); rate limits are left out (a noisy derivative says little about margin)."""
        m = min(rl.max - v, v - rl.min)
        if rl.relative:
            sp = cs.pc_setpoint
            if isfinite(sp) and sp > 0 and t - cs.pc_setpoint_moved_at >= rl.settle_s:
                m = min(m, rl.max_frac * sp - v, v - rl.min_frac * sp)
        return m

    def margins(self) -> dict[str, dict[str, float]]:
        """summary.json's ``redline_margins``: each watched redline's closest approach."""
        return {n: {"margin": round(m, 6), "t": round(t, 4), "value": round(v, 6)}
                for n, (m, t, v) in self.closest.items() if isfinite(m)}

    def _trip(self, t: float, rl: Redline, why: str) -> None:
        sup = self.supervisor
        first = self.first_violation.get(rl.name, t)
        if sup.state in (State.ARMED, State.RUNNING):
            self.tripped.append(rl.name)
            self.events(t, "redline", redline=rl.name, detail=why, first_violation_t=first,
                        cycles_since_first=int(round((t - first) * self.rate_hz)))
            sup.abort(t, f"redline {rl.name}: {why}", source="redline")
        elif self.counts[rl.name] == rl.persistence:
            self.events(t, "redline_outside_run", redline=rl.name, detail=why)
