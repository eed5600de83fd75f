"""Hard-start peaks of the simulated engines under the reference's drives
(shared/reference/engine-model.md, "Hard-start reference peaks"): the valves held at an opening
until a late ignition, then commanded fully open; the peak chamber pressure is what the
propellant that piled up does when it lights.

Ignition is placed at the reference's instant exactly (the igniter is on from t = 0 but unable
to light the chamber until ``ignition_delay_s`` before it), so the comparison is at equal drive
and the engine's own ignition-delay parameters do not enter. ``python -m firmware_sim.hardstart``
prints the table docs/simulator.md gives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from firmware_sim.engine import Engine
from firmware_sim.params import LAB, TQ12, EngineParams

# drive -> (fuel command time s, ignition time s) for the TQ-12-like engine; LOX, GG and
# igniter at t = 0 in both
TQ12_DRIVES = {"a": (0.0, 0.150), "b": (0.3, 0.435)}
# the corrected reference (2026-12-07), MPa, 100 ms late
TQ12_REFERENCE = {("a", 15): 8.33, ("a", 30): 14.81, ("a", 100): 19.00,
                  ("b", 15): 16.83, ("b", 30): 29.58, ("b", 100): 34.19}
TQ12_REFERENCE_SPEED = {"a": 0.31, "b": 0.66}
# lab: ignition after the fuel command (LOX 50 ms before it) -> peak / rated
LAB_REFERENCE = {0.100: 4.66, 0.120: 5.47, 0.250: 6.90, 0.270: 6.91}


@dataclass(frozen=True)
class Peak:
    """One hard start: its peak Pc (MPa), and the pump speed at ignition (fraction of design)."""

    peak_mpa: float
    speed_at_ignition: float
    ignited_at_s: float


def reference_like(p: EngineParams) -> EngineParams:
    """The preset with the reference's two accumulation constants: no pooled liquid, a 3 ms burn
    of what piled up (shared/reference/engine-model.md, last paragraph)."""
    return replace(p, pool_frac=0.0, tau_burn_s=0.003)


def hard_start(p: EngineParams, opening: float, t_fuel: float, t_ign: float, t_ox: float = 0.0,
               after_s: float = 0.4, reference_pump: bool = False) -> Peak:
    """Valves at ``opening`` (fraction of the design opening) from their command times, ignition
    at ``t_ign``, then both commanded to the design opening; the peak Pc over ``after_s``.
    ``reference_pump``: the turbopump driven as the reference drives it — toward design speed
    from t = 0 (the GG valve already at its opening, no spin-start limit before ignition) —
    instead of by this simulator's start (a 40 % spin-start until the chamber lights, the GG
    valve stroking open over 0.24 s)."""
    if reference_pump:
        p = replace(p, spin_start_frac=1.0)
    e = Engine(p)
    if reference_pump and p.pump_fed:
        e.pos_gg = p.gg_design_opening
    dt = e.dt
    full = p.valve_design_opening
    e.igniter, e.igniter_healthy = True, False
    if p.pump_fed:
        e.cmd_gg = p.gg_design_opening
    t_ready = t_ign - p.ignition_delay_s  # from here the igniter can light the chamber
    steps = round((t_ign + after_s) / dt)
    speed = 0.0
    ignited = float("nan")
    for k in range(steps):
        t = k * dt
        if t >= t_ox - 1e-12 and e.cmd_ox == 0.0:
            e.cmd_ox = opening * full
        if t >= t_fuel - 1e-12 and e.cmd_fuel == 0.0:
            e.cmd_fuel = opening * full
        if t >= t_ready - 1e-12:
            e.igniter_healthy = True
        was = e.burning
        e.run(1)
        if e.burning and not was:
            speed, ignited = e.speed, e.t
            e.cmd_ox = e.cmd_fuel = full
    return Peak(e.peak_pc / 1e6, speed, ignited)


def tq12_table(p: EngineParams = TQ12, reference_pump: bool = False) -> dict[tuple[str, int], Peak]:
    """Drive (a) and (b) at 15, 30 and 100 % opening."""
    return {(d, pct): hard_start(p, pct / 100.0, tf, ti, reference_pump=reference_pump)
            for d, (tf, ti) in TQ12_DRIVES.items() for pct in (15, 30, 100)}


def lab_table(p: EngineParams = LAB) -> dict[float, float]:
    """Peak / rated for ignition 100-270 ms after the fuel command (LOX 50 ms before it), at the
    lab engine's start opening (its design opening)."""
    return {late: hard_start(p, 1.0, 0.05, 0.05 + late).peak_mpa * 1e6 / p.pc_design for late in LAB_REFERENCE}


def main() -> None:
    cases = (("the TQ-12-like preset", tq12_table()),
             ("the reference's pump drive", tq12_table(reference_pump=True)),
             ("the reference's pump drive and accumulation constants", tq12_table(reference_like(TQ12), True)))
    for what, table in cases:
        print(f"TQ-12-like, 100 ms late, {what}: peak Pc MPa (simulator / reference, deviation), pump speed at ignition")
        for (d, pct), pk in table.items():
            ref = TQ12_REFERENCE[d, pct]
            print(f"  drive ({d}) {pct:3d} %: {pk.peak_mpa:6.2f} / {ref:6.2f}  ({100 * (pk.peak_mpa / ref - 1):+5.1f} %)"
                  f"  speed {pk.speed_at_ignition:.2f} (reference {TQ12_REFERENCE_SPEED[d]:.2f})")
    print("lab, peak / rated by ignition after the fuel command")
    for late, ratio in lab_table().items():
        print(f"  {1000 * late:3.0f} ms: {ratio:5.2f} / {LAB_REFERENCE[late]:5.2f}")


if __name__ == "__main__":
    main()
