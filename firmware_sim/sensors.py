"""The DAQ front end of the simulated firmware: transducer lag, noise, faults and the
conversion of engineering values into raw register counts.

Sampling happens when a register is read, like a DAQ converting on request: lag is applied
exactly over the time since the previous sample, noise is drawn per sample, and quantisation
comes from rounding to the channel's register type. A sensor nobody reads costs nothing,
which keeps lockstep runs fast.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np

from firmware_sim.engine import SIGNALS, Engine
from hil.stand import Channel
from hil.stand.calibration import Linear
from hil.stand.kinds import WordOrder
from hil.stand.registers import encode, spec

# source -> (lag time constant s, white noise σ as a fraction of the channel span) [E]
SENSOR_MODEL: dict[str, tuple[float, float]] = {
    "pc": (0.0005, 0.0015),
    "p_inj_ox": (0.001, 0.002),
    "p_inj_fuel": (0.001, 0.002),
    "p_sup_ox": (0.002, 0.002),
    "p_sup_fuel": (0.002, 0.002),
    "p_purge": (0.002, 0.002),
    "p_igniter": (0.001, 0.002),  # igniter chamber pressure (the torch's own proof)
    "thrust": (0.0, 0.001),  # the stand mode is modelled in the plant
    "wall_temp": (0.2, 0.001),  # thermocouple
    "pump_speed": (0.005, 0.001),
    "pos_ox": (0.0, 0.0005),
    "pos_fuel": (0.0, 0.0005),
    "pos_gg": (0.0, 0.0005),
    "pos_ox_iso": (0.0, 0.0005),
    "pos_fuel_iso": (0.0, 0.0005),
    "mdot_ox": (0.01, 0.003),  # flowmeter
    "mdot_fuel": (0.01, 0.003),
    "ox_iso_open": (0.0, 0.0),
    "fuel_iso_open": (0.0, 0.0),
    "ox_iso_closed": (0.0, 0.0),
    "fuel_iso_closed": (0.0, 0.0),
    "abort_switch": (0.0, 0.0),
}
ROUGHNESS = 0.01  # combustion roughness on Pc while burning, rms fraction of Pc [E]


class Sensor:
    """One channel's transducer and ADC."""

    def __init__(self, ch: Channel, noise: Iterator[float], noise_scale: float = 1.0) -> None:
        if ch.source not in SIGNALS:
            raise ValueError(f"channel {ch.name!r}: unknown simulator source {ch.source!r}; known: {', '.join(SIGNALS)}")
        self.ch = ch
        self.register = ch.register
        self.width = ch.width
        self.read_signal = SIGNALS[ch.source]
        self.tau, noise_frac = SENSOR_MODEL[ch.source]
        rspec = spec(ch.type)
        lo_raw, hi_raw = rspec.raw_range
        # Noise scales with the transducer's span: its valid range where the stand gives
        # one, else what a 16-bit register can represent.
        if math.isfinite(ch.valid[0]) and math.isfinite(ch.valid[1]):
            span = ch.valid[1] - ch.valid[0]
        elif rspec.words == 1 and rspec.integer and rspec.name != "bit":
            span = abs(float(ch.calibration.to_eng(hi_raw)) - float(ch.calibration.to_eng(lo_raw)))
        else:
            span = 0.0
        self.sigma = noise_frac * span * noise_scale
        self.rough = ROUGHNESS if ch.source == "pc" else 0.0
        self.noise = noise
        self.y: float | None = None
        self.t_last = 0.0
        self.decay_dt = -1.0
        self.decay = 0.0
        self.dropout = False
        self.pattern = False
        self.frozen: list[int] | None = None
        self.last: list[int] | None = None
        self.drift_rate = 0.0
        self.drift_t0 = 0.0
        self.offset = 0.0  # a mis-zeroed transducer (sensor_offset fault), engineering units
        self.dropout_regs = encode(lo_raw, ch.type, ch.word_order)
        # Fast path for the common 16-bit linear channel: counts = (eng - offset) / gain, in the
        # one register as it is (a vendor's swapped bytes take the general path through encode).
        cal = ch.calibration
        self.linear16 = None
        if isinstance(cal, Linear) and rspec.words == 1 and rspec.integer and rspec.name != "bit" \
                and not WordOrder(ch.word_order).byteswap:
            lo, hi = int(lo_raw), int(hi_raw)
            self.linear16 = (1.0 / cal.gain, cal.offset, lo, hi, lo < 0)

    def value(self, engine: Engine) -> float:
        """The transducer's output now (engineering units, before the ADC)."""
        x = self.read_signal(engine)
        t = engine.t
        if self.y is None or self.tau == 0.0:
            y = x
        else:
            el = t - self.t_last
            if el != self.decay_dt:
                self.decay_dt, self.decay = el, math.exp(-el / self.tau)
            y = x + (self.y - x) * self.decay
        self.y, self.t_last = y, t
        out = y
        if self.sigma:
            out += self.sigma * next(self.noise)
        if self.rough and engine.burning:
            out += self.rough * y * next(self.noise)
        if self.drift_rate:
            out += self.drift_rate * (t - self.drift_t0)
        if self.offset:
            out += self.offset
        return out

    def registers(self, engine: Engine) -> list[int]:
        """Sample and convert to the channel's raw registers (saturating like a real ADC)."""
        if self.dropout:
            return self.dropout_regs
        if self.frozen is not None:
            return self.frozen
        if self.pattern:  # word_pattern fault: every word is the scan number, so a torn 32-bit value shows
            return [int(round(engine.t / engine.dt)) & 0xFFFF] * self.width
        fast = self.linear16
        if fast is not None:
            inv_gain, offset, lo, hi, signed = fast
            c = round((self.value(engine) - offset) * inv_gain)
            c = lo if c < lo else hi if c > hi else c
            regs = [c & 0xFFFF] if signed else [c]
        else:
            ch = self.ch
            regs = encode(float(ch.calibration.to_raw(self.value(engine))), ch.type, ch.word_order)
        self.last = regs
        return regs

    def freeze(self, engine: Engine) -> None:
        """Stick at the last value the DAQ delivered (a frozen transducer or a hung ADC)."""
        self.frozen = self.last if self.last is not None else self.registers(engine)


def sample_into(sensors: list[Sensor], engine: Engine, image: list[int], address: int, end: int) -> None:
    """Sample every sensor of ``sensors`` that overlaps registers ``address`` .. ``end`` - 1 into
    ``image`` (indexed by register), in list order (the order the noise is drawn in).

    The same arithmetic as :meth:`Sensor.registers` and :meth:`Sensor.value`, fused into one
    loop for the common 16-bit linear channel without a fault: a lockstep run samples ~17 of
    them every millisecond, and the two calls per sensor cost more than their arithmetic
    (issue 26). Any other sensor takes :meth:`Sensor.registers`.
    """
    t = engine.t
    burning = engine.burning
    for s in sensors:
        r = s.register
        if r >= end or r + s.width <= address:
            continue
        fast = s.linear16
        if fast is None or s.dropout or s.frozen is not None or s.pattern:
            image[r : r + s.width] = s.registers(engine)
            continue
        x = s.read_signal(engine)
        y0 = s.y
        if y0 is None or s.tau == 0.0:
            y = x
        else:
            el = t - s.t_last
            if el != s.decay_dt:
                s.decay_dt, s.decay = el, math.exp(-el / s.tau)
            y = x + (y0 - x) * s.decay
        s.y, s.t_last = y, t
        out = y
        if s.sigma:
            out += s.sigma * next(s.noise)
        if s.rough and burning:
            out += s.rough * y * next(s.noise)
        if s.drift_rate:
            out += s.drift_rate * (t - s.drift_t0)
        if s.offset:
            out += s.offset
        inv_gain, offset, lo, hi, signed = fast
        c = round((out - offset) * inv_gain)
        c = lo if c < lo else hi if c > hi else c
        regs = [c & 0xFFFF] if signed else [c]
        s.last = regs
        image[r] = regs[0]


def noise_source(seed: int, n: int = 1 << 16) -> Iterator[float]:
    """Deterministic unit-normal samples for a seed, drawn once and cycled (drawing per sample
    with random.gauss costs more than the whole plant step)."""
    return itertools.cycle(np.random.default_rng(seed).standard_normal(n).tolist())
