"""LOX/LCH4 thermochemistry: characteristic velocity versus mixture ratio and chamber pressure.

Provenance. ``data/cstar_lox_ch4.csv`` is the project's equilibrium grid (shared/reference,
labelled [C] there): ideal c* of LOX (90.17 K) / liquid CH4 (111.64 K), Cantera 3.2 with
NASA-Glenn species, HP equilibrium in the chamber, shifting equilibrium to the throat, O/F 1.5-5
by chamber pressure 0.5-14 MPa. c* depends on Pc as well as O/F (dissociation): at O/F 3.4 the
4 MPa value is ~0.9 % below the 10 MPa one, so a table fixed at design Pc would read high by up
to ~1.3 % at 30 % throttle; and the peak between O/F 2.5 and 3.0 needs the 2.75 row the grid has.

Outside O/F 1.5-5 the rows are engineering estimates [E] that only shape start and shutdown
transients, where the mixture sweeps far from nominal (no steady operating point uses them);
at each pressure they are scaled by the grid's edge value there, so the surface stays continuous.
"""

from __future__ import annotations

import bisect
import csv
from pathlib import Path

GRID_CSV = Path(__file__).with_name("data") / "cstar_lox_ch4.csv"

# [E] O/F, c* [m/s] at 10 MPa beyond the grid: fuel-rich and oxygen-rich start transients
LOW_ROWS: tuple[tuple[float, float], ...] = ((0.2, 600.0), (1.0, 1250.0))
HIGH_ROWS: tuple[tuple[float, float], ...] = ((6.0, 1560.0), (8.0, 1330.0), (12.0, 1080.0), (20.0, 820.0),
                                             (50.0, 520.0))  # 50: mostly warm gaseous O2
REFERENCE_PC = 10.0e6  # the pressure the [E] rows were estimated at


def read_grid(path: Path = GRID_CSV) -> tuple[list[float], list[float], list[list[float]]]:
    """O/F rows, chamber pressures (Pa) and c* [m/s] from the grid file (``#`` lines are comments)."""
    with open(path, encoding="utf-8") as f:
        rows = [r for r in csv.reader(line for line in f if not line.startswith("#"))]
    head, body = rows[0], rows[1:]
    pcs = [float(h.removeprefix("pc_").removesuffix("_mpa")) * 1e6 for h in head[1:]]
    return [float(r[0]) for r in body], pcs, [[float(v) for v in r[1:]] for r in body]


class CstarGrid:
    """c*(O/F, Pc) [m/s], bilinear, clamped at the edges (Pc below 0.5 MPa reads the 0.5 MPa column).

    A scalar lookup in pure Python: called once per plant step, where numpy's per-call
    overhead would cost more than the arithmetic.
    """

    def __init__(self, path: Path = GRID_CSV) -> None:
        ofs, pcs, table = read_grid(path)
        ref = min(range(len(pcs)), key=lambda j: abs(pcs[j] - REFERENCE_PC))
        lo = [[v * table[0][j] / table[0][ref] for j in range(len(pcs))] for _, v in LOW_ROWS]
        hi = [[v * table[-1][j] / table[-1][ref] for j in range(len(pcs))] for _, v in HIGH_ROWS]
        self.of = [o for o, _ in LOW_ROWS] + ofs + [o for o, _ in HIGH_ROWS]
        self.pc = pcs
        self.table = lo + table + hi

    def __call__(self, of: float, pc: float) -> float:
        i, u = _bracket(self.of, of)
        j, v = _bracket(self.pc, pc)
        r0, r1 = self.table[i - 1], self.table[i]
        a = r0[j - 1] + (r0[j] - r0[j - 1]) * v
        b = r1[j - 1] + (r1[j] - r1[j - 1]) * v
        return a + (b - a) * u


def _bracket(xs: list[float], x: float) -> tuple[int, float]:
    """The grid interval holding ``x`` (its upper index) and where in it, clamped at the ends."""
    if x <= xs[0]:
        return 1, 0.0
    if x >= xs[-1]:
        return len(xs) - 1, 1.0
    i = bisect.bisect_right(xs, x)
    return i, (x - xs[i - 1]) / (xs[i] - xs[i - 1])


CSTAR = CstarGrid()  # LOX/LCH4, shared by every engine preset (η on top is per engine)
