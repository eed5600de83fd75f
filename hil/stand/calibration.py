"""Calibrations between raw register values and engineering units.

Both directions are needed: the controller turns counts into MPa, the simulated firmware
turns MPa into counts. Everything works on numpy arrays so the loop calibrates all
channels of a cycle in one vectorised call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
        # Invert numerically over the register's raw range (the loader checked monotonicity):
        # a table lookup for the start, then Newton steps to well below one count.
        grid = np.linspace(self.raw_lo, self.raw_hi, 4097)
        vals = self.to_eng(grid)
        if vals[0] > vals[-1]:
            grid, vals = grid[::-1], vals[::-1]
        x = np.interp(eng, vals, grid)
        deriv = np.polynomial.polynomial.polyder(self.coeffs)
        for _ in range(3):
            slope = np.polynomial.polynomial.polyval(x, deriv)
            x = x - (self.to_eng(x) - eng) / np.where(slope == 0, 1.0, slope)
        return np.clip(x, self.raw_lo, self.raw_hi)


@dataclass(frozen=True)
class Table:
    """Piecewise-linear table of (raw, eng) points; clamps outside the table."""

    raw: tuple[float, ...]
    eng: tuple[float, ...]
    _r: np.ndarray = field(init=False, repr=False, compare=False)
    _e: np.ndarray = field(init=False, repr=False, compare=False)
    _e_sorted: np.ndarray = field(init=False, repr=False, compare=False)
    _r_by_e: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # np.interp converts tuple arguments on every call; keep arrays ready (and the inverse
        # ordered by eng so decreasing tables invert too)
        r, e = np.asarray(self.raw, dtype=float), np.asarray(self.eng, dtype=float)
        order = np.argsort(e)
        object.__setattr__(self, "_r", r)
        object.__setattr__(self, "_e", e)
        object.__setattr__(self, "_e_sorted", e[order])
        object.__setattr__(self, "_r_by_e", r[order])

    def to_eng(self, raw):  # noqa: ANN001, ANN201
        return np.interp(raw, self._r, self._e)

    def to_raw(self, eng):  # noqa: ANN001, ANN201
        return np.interp(eng, self._e_sorted, self._r_by_e)


Calibration = Linear | Polynomial | Table


def is_monotonic(values: np.ndarray) -> bool:
    """True when strictly increasing or strictly decreasing (required to invert a calibration)."""
    d = np.diff(values)
    return bool(np.all(d > 0) or np.all(d < 0))
