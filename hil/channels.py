"""Calibrations between raw register values and engineering units.

Both directions are needed: the controller turns counts into MPa, the simulated firmware
turns MPa into counts. Everything works on numpy arrays so the loop calibrates all
channels of a cycle in one vectorised call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Linear:
    """eng = gain * raw + offset."""

    gain: float
    offset: float = 0.0

    def to_eng(self, raw):  # noqa: ANN001, ANN201 - float or ndarray in, same out
        return raw * self.gain + self.offset

    def to_raw(self, eng):  # noqa: ANN001, ANN201
        return (eng - self.offset) / self.gain


@dataclass(frozen=True)
class Polynomial:
    """eng = c0 + c1*raw + c2*raw**2 + ... (thermocouple and bridge linearisations)."""

    coeffs: tuple[float, ...]
    raw_lo: float
    raw_hi: float

    def to_eng(self, raw):  # noqa: ANN001, ANN201
        return np.polynomial.polynomial.polyval(raw, self.coeffs)

    def to_raw(self, eng):  # noqa: ANN001, ANN201
        # Invert numerically over the register's raw range; the loader checked monotonicity.
        grid = np.linspace(self.raw_lo, self.raw_hi, 4097)
        vals = self.to_eng(grid)
        if vals[0] > vals[-1]:
            grid, vals = grid[::-1], vals[::-1]
        return np.interp(eng, vals, grid)


@dataclass(frozen=True)
class Table:
    """Piecewise-linear table of (raw, eng) points; clamps outside the table."""

    raw: tuple[float, ...]
    eng: tuple[float, ...]

    def to_eng(self, raw):  # noqa: ANN001, ANN201
        return np.interp(raw, self.raw, self.eng)

    def to_raw(self, eng):  # noqa: ANN001, ANN201
        if self.eng[0] <= self.eng[-1]:
            return np.interp(eng, self.eng, self.raw)
        return np.interp(eng, self.eng[::-1], self.raw[::-1])


Calibration = Linear | Polynomial | Table


def is_monotonic(values: np.ndarray) -> bool:
    """True when strictly increasing or strictly decreasing (required to invert a calibration)."""
    d = np.diff(values)
    return bool(np.all(d > 0) or np.all(d < 0))
