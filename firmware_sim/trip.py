"""The simulated firmware's hard-wired hard-start trip (issue 24).

A start going hard is over in milliseconds: what piled up before the late light burns at
once. The controller cuts it in the cycle it sees it (hil/safety/start.py), but a controller
that is silent, late or wrong sees nothing, so the stand firmware carries its own trip, as it
carries its own heartbeat watchdog and overpressure trip: from its own reading of the chamber
pressure transducer, at its own scan, whatever the controller does.

- **Start transient**: from the scan a chamber propellant valve (the main LOX or fuel valve) is
  commanded open while both were shut, for ``hard_start_window_s`` (2 s). Closing both ends it
  (the next opening is the next start).
- **Criteria**: the reading above ``hard_start_above`` (default: the overpressure limit) for one
  scan, or rising faster than ``hard_start_rate`` (MPa/s, default off) for
  ``hard_start_samples`` consecutive scans. The level acts at once where the overpressure trip
  waits ``overpressure_samples`` scans; the rate is opt-in because a nominal ignition-stage
  light already rises steeply in the simulator (about 3.3 MPa in 2 ms on the TQ-12-like engine,
  1.1 MPa on the lab engine, i.e. 55 % of its rated Pc).
- **Action** (the firmware, :meth:`Firmware.trip_hard_start`): latch SAFED, shut every
  propellant valve and the igniter at that scan (no fuel lag: the lag only feeds the spike),
  then play the rest of the safing table (the purge). The trip bit says which criterion fired.

The reading is the firmware's own sample of the overpressure channel's transducer: the same
transducer model as the register the controller reads (lag, noise, combustion roughness, the
ADC's saturation, and the transducer's injected faults), with its own noise draw so that adding
the trip changed no recorded run's noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from firmware_sim.engine import Engine
from firmware_sim.sensors import Sensor
from hil.stand import Actuator, FirmwareConfig, StandConfig
from hil.stand import firmware_map as fw
from hil.stand.registers import decode

CHAMBER_VALVES = ("ox_valve", "fuel_valve")  # what the plant's chamber propellant valves drive


@dataclass(frozen=True)
class HardStartSeen:
    """What the trip saw when it fired."""

    t: float  # simulator clock of the scan
    scan: int  # the firmware's scan count at that scan
    reading: float  # its Pc reading, MPa
    rate: float  # its rate of rise over the last scan, MPa/s
    why: fw.Trip


class HardStartTrip:
    """Watches the firmware's outputs for a start and its own Pc reading for a start going hard."""

    def __init__(self, stand: StandConfig, cfg: FirmwareConfig, sensors: dict[str, Sensor],
                 noise: Iterator[float], noise_scale: float) -> None:
        self.level = cfg.hard_start_above
        self.rate = cfg.hard_start_rate
        self.samples = cfg.hard_start_samples
        self.window_s = cfg.hard_start_window_s
        self.enabled = bool(cfg.overpressure_channel) and (self.level < math.inf or self.rate < math.inf)
        self.chamber: tuple[Actuator, ...] = tuple(a for a in stand.actuators if a.drives in CHAMBER_VALVES)
        self.public: Sensor | None = None
        self.sensor: Sensor | None = None
        if self.enabled:
            self.public = sensors[cfg.overpressure_channel]
            self.sensor = Sensor(self.public.ch, noise, noise_scale)  # the firmware's own sample
        self.armed_until = -math.inf
        self.n_open = 0  # chamber valves commanded open
        self.last = math.nan
        self.rising = 0
        self.starts = 0  # start transients seen
        self.peak_reading = -math.inf  # the highest reading in any start transient (the margin to the level)
        self.peak_rate = -math.inf
        self.seen: HardStartSeen | None = None

    def armed(self, t: float) -> bool:
        """Whether this scan is inside a start transient (the firmware then scans one by one)."""
        return self.enabled and t < self.armed_until - 1e-12

    def watch_outputs(self, outputs: dict[str, float], t: float) -> None:
        """After the firmware decoded its outputs: a chamber valve opening with both shut starts
        a start transient, and it lasts the window from the *last* chamber valve to open (a LOX
        lead must not spend the window before the fuel, which is when a start goes hard); both
        shut ends it."""
        if not self.enabled:
            return
        n_open = sum(1 for a in self.chamber if outputs[a.name] > 0)
        if n_open > self.n_open:
            self.armed_until = t + self.window_s
            if not self.n_open:
                self.starts += 1
                self.last, self.rising = math.nan, 0
        elif not n_open:
            self.armed_until = -math.inf
        self.n_open = n_open

    def reading(self, engine: Engine) -> float:
        """The firmware's own sample of the Pc transducer, MPa (through the ADC, so it saturates
        where the register does; the transducer's faults apply to it too)."""
        s, pub = self.sensor, self.public
        assert s is not None and pub is not None
        s.dropout, s.frozen, s.offset = pub.dropout, pub.frozen, pub.offset
        s.drift_rate, s.drift_t0 = pub.drift_rate, pub.drift_t0
        ch = s.ch
        return float(ch.calibration.to_eng(decode(s.registers(engine), ch.type, ch.word_order)))

    def check(self, engine: Engine, dt: float, scan: int) -> HardStartSeen | None:
        """One scan inside a start transient: what it saw if the start is going hard, else None."""
        v = self.reading(engine)
        rate = (v - self.last) / dt  # NaN on the first scan: no rise
        self.last = v
        self.peak_reading = max(self.peak_reading, v)
        if rate == rate:
            self.peak_rate = max(self.peak_rate, rate)
        why: fw.Trip | None = None
        if v > self.level:
            why = fw.Trip.HARD_START_LEVEL
        else:
            self.rising = self.rising + 1 if rate > self.rate else 0
            if self.rising >= self.samples:
                why = fw.Trip.HARD_START_RATE
        if why is None:
            return None
        self.seen = HardStartSeen(engine.t, scan, v, rate, why)
        self.armed_until = -math.inf
        return self.seen

    def report(self) -> dict[str, object]:
        """For the run's summary (lockstep): what the trip saw over the run."""
        seen = self.seen
        return {"enabled": self.enabled, "level_mpa": _finite(self.level), "rate_mpa_s": _finite(self.rate),
                "starts": self.starts,
                "peak_reading_mpa": round(self.peak_reading, 4) if self.starts else None,
                "peak_rate_mpa_s": round(self.peak_rate, 1) if self.peak_rate > -math.inf else None,
                "tripped": None if seen is None else {"t": round(seen.t, 6), "scan": seen.scan,
                                                      "reading_mpa": round(seen.reading, 4),
                                                      "why": seen.why.name.lower()}}


def _finite(x: float) -> float | None:
    """A threshold for JSON: None when it is off (infinite)."""
    return x if math.isfinite(x) else None
