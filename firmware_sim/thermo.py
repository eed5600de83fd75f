"""LOX/LCH4 thermochemistry tables: characteristic velocity versus mixture ratio.

Provenance. The O/F 2.5-4.0 rows are ideal shifting-equilibrium values computed with
Cantera 3.2 (LOX at 90.17 K, LCH4 at 111.64 K, NASA gas species), cross-checked against a
published NASA CEA case to 0.02 % on c*; they are copied from the project's engine reference
(shared/reference/engine-model.md, labelled [C] there). The rows outside 2.5-4.0 (O/F 0.2-2.0
and 5.0-50) are engineering estimates [E] that only shape start and shutdown
transients, where the mixture sweeps far from nominal; no steady operating point uses them.
"""

from __future__ import annotations

import bisect

# O/F, c* [m/s] at Pc = 10 MPa
CSTAR_10MPA: tuple[tuple[float, float], ...] = (
    (0.2, 600.0),  # [E] fuel-rich start transient
    (1.0, 1250.0),  # [E]
    (1.5, 1520.0),  # [E]
    (2.0, 1740.0),  # [E]
    (2.5, 1857.0),
    (3.0, 1871.0),
    (3.2, 1861.0),
    (3.4, 1846.0),
    (3.5, 1838.0),
    (3.8, 1811.0),
    (4.0, 1793.0),
    (5.0, 1690.0),  # [E]
    (6.0, 1560.0),  # [E]
    (8.0, 1330.0),  # [E]
    (12.0, 1080.0),  # [E]
    (20.0, 820.0),  # [E]
    (50.0, 520.0),  # [E] oxygen-rich start transient: mostly warm gaseous O2
)

# O/F, c* [m/s] at Pc = 2 MPa (lower pressure, less dissociation recovery)
CSTAR_2MPA: tuple[tuple[float, float], ...] = (
    (0.2, 590.0),  # [E] fuel-rich start transient
    (1.0, 1240.0),  # [E]
    (1.5, 1500.0),  # [E]
    (2.0, 1725.0),  # [E]
    (2.5, 1845.0),
    (3.0, 1845.0),
    (3.5, 1807.0),
    (4.0, 1762.0),
    (5.0, 1660.0),  # [E]
    (6.0, 1540.0),  # [E]
    (8.0, 1310.0),  # [E]
    (12.0, 1060.0),  # [E]
    (20.0, 810.0),  # [E]
    (50.0, 510.0),  # [E] oxygen-rich start transient: mostly warm gaseous O2
)


class CstarTable:
    """Piecewise-linear c*(O/F), clamped at the table ends.

    A scalar lookup in pure Python: called once per plant step, where numpy's per-call
    overhead would cost more than the arithmetic.
    """

    def __init__(self, rows: tuple[tuple[float, float], ...]) -> None:
        self.of = [r[0] for r in rows]
        self.cstar = [r[1] for r in rows]

    def __call__(self, of: float) -> float:
        xs, ys = self.of, self.cstar
        if of <= xs[0]:
            return ys[0]
        if of >= xs[-1]:
            return ys[-1]
        i = bisect.bisect_right(xs, of)
        x0, x1 = xs[i - 1], xs[i]
        return ys[i - 1] + (ys[i] - ys[i - 1]) * (of - x0) / (x1 - x0)
