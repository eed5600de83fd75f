"""Hard-start peaks of the simulated engines under the reference's drives
(shared/reference/engine-model.md, "Hard-start reference peaks"), and the worst light a staged
start allows: the valves held at an opening until a late ignition, then commanded fully open;
the peak chamber pressure is what the propellant that piled up does when it lights.

Ignition is placed at the wanted instant exactly (the igniter is on from t = 0 but unable to
light the chamber until ``ignition_delay_s`` before it), so the comparison is at equal drive and
the engine's own ignition-delay parameters do not enter. ``python -m firmware_sim.hardstart``
prints the table docs/simulator.md gives.
"""

from __future__ import annotations

from dataclasses import dataclass

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
BAND = 0.10  # the simulator's TQ-12-like peaks agree with the reference's within ±10 % (issue 24)


@dataclass(frozen=True)
class Peak:
    """One hard start: its peak Pc (MPa), and the pump speed at ignition (fraction of design)."""

    peak_mpa: float
    speed_at_ignition: float
    ignited_at_s: float


def hard_start(p: EngineParams, opening: float, t_fuel: float, t_ign: float, t_ox: float = 0.0,
               t_gg: float = 0.0, gg: float | None = None, after_s: float = 0.4) -> Peak:
    """LOX and fuel valves at ``opening`` (fraction of the design opening) from their command
    times, the GG commanded to ``gg`` (its design opening by default) at ``t_gg`` — which fires
    the pump-fed engine's start system — ignition at ``t_ign``, then both main valves commanded
    to the design opening; the peak Pc over ``after_s`` after ignition."""
    e = Engine(p)
    dt = e.dt
    full = p.valve_design_opening
    e.igniter, e.igniter_healthy = True, False
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
        if p.pump_fed and t >= t_gg - 1e-12 and e.cmd_gg == 0.0:
            e.cmd_gg = p.gg_design_opening if gg is None else gg
        if t >= t_ready - 1e-12:
            e.igniter_healthy = True
        was = e.burning
        e.run(1)
        if e.burning and not was:
            speed, ignited = e.speed, e.t
            e.cmd_ox = e.cmd_fuel = full
    return Peak(e.peak_pc / 1e6, speed, ignited)


def tq12_table(p: EngineParams = TQ12) -> dict[tuple[str, int], Peak]:
    """Drive (a) and (b) at 15, 30 and 100 % opening."""
    return {(d, pct): hard_start(p, pct / 100.0, tf, ti) for d, (tf, ti) in TQ12_DRIVES.items() for pct in (15, 30, 100)}


def reference_margin(table: dict[tuple[str, int], Peak]) -> float:
    """How much higher the reference's peak may be than this simulator's (the largest
    reference / simulator ratio of the table, at least 1): a start shown safe here is safe in the
    reference only with this margin."""
    return max(1.0, *(TQ12_REFERENCE[k] / pk.peak_mpa for k, pk in table.items()))


@dataclass(frozen=True)
class StagedStart:
    """A staged start's timing relative to the fuel command (s) and its ignition-stage opening
    (fraction of the design opening): what a sequence commands, as the simulator is driven."""

    stage: float
    ox_lead_s: float  # LOX opens this long before the fuel
    gg_lead_s: float  # the GG (and with it the start system) this long before the fuel; < 0: after
    gg: float  # GG command (valve fraction)
    window_s: float  # ignition confirmed within this long of the fuel command, or the igniter is off


def staged_light(p: EngineParams, s: StagedStart, light_after_s: float) -> Peak:
    """The start lit ``light_after_s`` after the fuel command (then the valves to mainstage)."""
    t_ox = max(0.0, s.gg_lead_s - s.ox_lead_s)  # the earliest command at t = 0
    t_fuel = t_ox + s.ox_lead_s
    return hard_start(p, s.stage, t_fuel, t_fuel + light_after_s, t_ox=t_ox, t_gg=t_fuel - s.gg_lead_s, gg=s.gg,
                      after_s=0.05)


def worst_light(p: EngineParams, s: StagedStart, reaction_s: float = 0.01, step_s: float = 0.005) -> tuple[float, float]:
    """(peak MPa, light time s after the fuel) of the worst light the start allows: any time from
    20 ms after the fuel command to the end of its confirmation window plus ``reaction_s`` (the
    abort that switches the igniter off reaches the plant a cycle or two later); a later igniter
    finds itself switched off before it can light the pile-up."""
    n = round((s.window_s + reaction_s - 0.02) / step_s)
    return max((staged_light(p, s, 0.02 + k * step_s).peak_mpa, 0.02 + k * step_s) for k in range(n + 1))


def lab_table(p: EngineParams = LAB) -> dict[float, float]:
    """Peak / rated for ignition 100-270 ms after the fuel command (LOX 50 ms before it), at the
    lab engine's start opening (its design opening)."""
    return {late: hard_start(p, 1.0, 0.05, 0.05 + late).peak_mpa * 1e6 / p.pc_design for late in LAB_REFERENCE}


def main() -> None:
    table = tq12_table()
    print("TQ-12-like, 100 ms late: peak Pc MPa (simulator / reference, deviation), pump speed at ignition")
    for (d, pct), pk in table.items():
        ref = TQ12_REFERENCE[d, pct]
        print(f"  drive ({d}) {pct:3d} %: {pk.peak_mpa:6.2f} / {ref:6.2f}  ({100 * (pk.peak_mpa / ref - 1):+5.1f} %)"
              f"  speed {pk.speed_at_ignition:.2f} (reference {TQ12_REFERENCE_SPEED[d]:.2f})")
    margin = reference_margin(table)
    print(f"reference margin (largest reference / simulator): {margin:.3f}")
    print("TQ-12-like staged start at 10 %, LOX lead 0.3 s, confirmation within 0.12 s of the fuel: worst light")
    for what, lead in (("GG with the fuel (shipped)", 0.0), ("GG with the LOX lead", 0.3)):
        s = StagedStart(0.10, 0.3, lead, TQ12.gg_design_opening, 0.12)
        peak, at = worst_light(TQ12, s)
        nominal = [staged_light(TQ12, s, d).peak_mpa for d in (0.02, 0.04, 0.06)]
        print(f"  {what}: nominal light (20/40/60 ms) {' / '.join(f'{v:.2f}' for v in nominal)} MPa; "
              f"worst {peak:.2f} MPa at {1000 * at:.0f} ms, x margin {peak * margin:.2f}")
    print("lab, peak / rated by ignition after the fuel command")
    for late, ratio in lab_table().items():
        print(f"  {1000 * late:3.0f} ms: {ratio:5.2f} / {LAB_REFERENCE[late]:5.2f}")


if __name__ == "__main__":
    main()
