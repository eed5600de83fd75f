"""Sensor qualification: which readings the controller may trust this cycle.

A reading outside its channel's valid range, or a live transducer frozen at one value for
``frozen_s``, is disqualified: reported once, no longer trusted by the redlines, the trusted
chamber pressure or the valve watch. It is trusted again only when it reads sensibly *and* the
stand is SAFE — a transducer that froze during a burn is not believed again mid-burn. What the
qualifier knows persists for the controller's life: loading another sequence does not forget
that a transducer froze.

A channel whose device has not answered is *unknown*, not failed: its value is NaN (never 0,
never the last value pretending to be fresh) and :attr:`SensorQualifier.unknown` says why ("not
read yet", "no answer from device 'tc' for 170 ms"). Unknown is a communication matter: the
redlines judge how long they may go without a fresh sample (hil/safety/blind.py) — also when the
device is declared lost ("no answer from device 'tc': the device is lost"): a lost critical
device is a FAULT by itself, a lost non-critical one is judged by the redlines it feeds.
"""

from __future__ import annotations

import math

import numpy as np

from hil.cycle import CycleState
from hil.safety.supervisor import EventSink, State, Supervisor
from hil.stand import StandConfig


def median(xs: list[float]) -> float:
    """Median of a short list (a few redundant sensors): numpy's costs ~40 µs a call."""
    n = len(xs)
    if n == 1:
        return xs[0]
    if n == 2:
        return 0.5 * (xs[0] + xs[1])
    s = sorted(xs)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


class SensorQualifier:
    """The ``sensors`` stage: produces ``cs.disqualified`` and ``cs.pc``."""

    name = "sensors"

    def __init__(self, stand: StandConfig, supervisor: Supervisor, events: EventSink) -> None:
        self.stand = stand
        self.supervisor = supervisor
        self.events = events
        n = len(stand.channels)
        self.frozen_s = np.array([c.frozen_s for c in stand.channels])
        self.disqualified = np.zeros(n, dtype=bool)
        self.why: dict[str, str] = {}
        self.unknown: dict[str, str] = {}  # channels without a value now, and why
        self._quiet: set[str] = set()
        self._dev = [c.device for c in stand.channels]
        self._frozen = [int(i) for i in np.flatnonzero(self.frozen_s > 0)]  # channels with a frozen check
        self._frozen_pos = {i: k for k, i in enumerate(self._frozen)}
        self._frozen_lim = [float(self.frozen_s[i]) for i in self._frozen]
        self._last = [math.nan] * len(self._frozen)
        self._same = [0.0] * len(self._frozen)
        self._sample_t = [0.0] * len(self._frozen)
        index = {c.name: i for i, c in enumerate(stand.channels)}
        self.pc_index = [index[c] for c in (stand.limits.pc_channels or (stand.limits.pc_channel,)) if c in index]

    def names(self) -> list[str]:
        """Channels disqualified now."""
        return [c.name for c, d in zip(self.stand.channels, self.disqualified) if d]

    def on_cycle(self, cs: CycleState) -> None:
        # np.count_nonzero(b) is b.any() for a boolean array at a quarter of its cost: this
        # stage runs every cycle (issue 26)
        t = cs.t
        if self.unknown or np.count_nonzero(cs.stale) or np.count_nonzero(cs.unread):
            self._track_unknown(cs, t)
        if cs.comm_ok and np.count_nonzero(np.isfinite(cs.values)):
            self._qualify(cs, t)
        cs.disqualified = self.disqualified
        vals, valid, dq = cs.values.tolist(), cs.valid.tolist(), self.disqualified.tolist()
        good = [vals[i] for i in self.pc_index if valid[i] and not dq[i]]
        cs.pc = median(good) if good else float("nan")

    def _track_unknown(self, cs: CycleState, t: float) -> None:
        """Channels of devices that have not answered (never, or not within their stale time):
        the reason the operator and the redlines see, reported when it starts and ends."""
        now: dict[str, str] = {}
        quiet: set[str] = set()  # an every-cycle device's missed answer: shown, not logged (comm_error is)
        for i in np.flatnonzero(cs.unread):
            name, dev = self.stand.channels[i].name, self._dev[i]
            now[name] = (f"no answer from device {dev!r}" + ("" if math.isfinite(cs.age[i]) else " yet")
                         + (": the device is lost" if cs.lost[i] else ""))
            quiet.add(name)
        for i in np.flatnonzero(cs.stale):
            name, dev, age = self.stand.channels[i].name, self._dev[i], float(cs.age[i])
            now[name] = (f"no answer from device {dev!r}: the device is lost" if cs.lost[i]
                         else f"not read yet: device {dev!r} has not answered" if not math.isfinite(age)
                         else f"no answer from device {dev!r} for {age * 1e3:.0f} ms")
        was = self.unknown
        for name in now.keys() - quiet:
            if name not in was or (now[name] != was[name] and now[name].endswith("lost")):
                self.events(t, "sensor_unknown", channel=name, reason=now[name])
        for name in was.keys() - now.keys() - self._quiet:
            self.events(t, "sensor_known", channel=name)
        self.unknown, self._quiet = now, quiet

    def _qualify(self, cs: CycleState, t: float) -> None:
        vals = cs.values
        # a device that missed this cycle's answer, or whose held value went stale, is a
        # communication matter (the device is lost after its lost_after polls; a redline is
        # blind after its blind_after), not a failed transducer
        bad = ~(cs.valid | cs.unread | cs.stale)
        if self._frozen:
            # frozen means the same value in sample after sample: a slow device's held value
            # is not a sample. Few channels have a frozen_s: plain Python beats numpy's per-call cost.
            fresh = cs.fresh
            same, last, when = self._same, self._last, self._sample_t
            for k, ch_i in enumerate(self._frozen):
                if fresh[ch_i]:
                    v = float(vals[ch_i])
                    same[k] = same[k] + (t - when[k]) if v == last[k] else 0.0
                    last[k], when[k] = v, t
                if same[k] >= self._frozen_lim[k]:
                    bad[ch_i] = True
        newly = bad & ~self.disqualified
        if np.count_nonzero(newly):  # rare: most cycles disqualify nothing
            for i in np.flatnonzero(newly):
                ch = self.stand.channels[i]
                reason = (f"frozen at {vals[i]:g} {ch.units} for {self._same[self._frozen_pos[int(i)]]:.2f} s"
                          if cs.valid[i]
                          else f"reading {vals[i]:g} {ch.units} is outside its valid range {ch.valid}")
                self.why[ch.name] = reason
                self.events(t, "sensor_disqualified", channel=ch.name, reason=reason)
            self.disqualified = self.disqualified | newly
        if self.supervisor.state == State.SAFE and np.count_nonzero(self.disqualified):
            back = self.disqualified & cs.valid & ~bad  # a sensor that recovered may be trusted again, but only in SAFE
            for i in np.flatnonzero(back):
                self.events(t, "sensor_requalified", channel=self.stand.channels[i].name)
            self.disqualified = self.disqualified & ~back
