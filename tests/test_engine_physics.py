"""Physics of the simulated engine: steady state, conservation, transients, relight.

Figures are checked against shared/reference/engine-model.md: design chamber pressure and
thrust, c* consistent with ṁ·c*/At, start and throttle response times within the stated
ranges, hard start from late ignition.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import LAB, TQ12
from simrig import Rig

from firmware_sim.engine import LAB as LAB_P
from firmware_sim.engine import PA, PRESETS, Engine, EngineParams
from firmware_sim.engine import TQ12 as TQ12_P


def steady_engine(p: EngineParams, seconds: float = 4.0) -> Engine:
    e = Engine(p)
    e.cmd_ox, e.igniter, e.cmd_gg = p.valve_design_opening, True, p.gg_design_opening
    e.run(50)
    e.cmd_fuel = p.valve_design_opening
    e.run(int(seconds * 1000))
    return e


@pytest.mark.parametrize("preset", ["tq12", "lab"])
def test_steady_state_pc_thrust_and_cstar(preset: str) -> None:
    p = PRESETS[preset]
    e = steady_engine(p)
    assert e.burning and e.ignitions == 1
    assert e.pc == pytest.approx(p.pc_design, rel=0.02)
    # conservation at steady state: what the injector feeds leaves through the throat
    mdot = e.mdot_ox + e.mdot_fuel
    cstar_measured = e.pc * p.throat_area / mdot
    assert cstar_measured == pytest.approx(p.eta_cstar * p.cstar_table(e.of, e.pc), rel=0.005)
    assert e.of == pytest.approx(p.of_design, rel=0.02)
    assert e.thrust == pytest.approx(p.thrust_design, rel=0.03)
    # and Pc is settled, not passing through
    before = e.pc
    e.run(200)
    assert abs(e.pc - before) / before < 1e-3


def test_design_figures_match_reference() -> None:
    # reference table: TQ-12-like ṁ 224 kg/s, 657 kN SL; lab 0.920 kg/s, ~2.2 kN; τc ≈ 1.4 ms
    assert TQ12_P.mdot_design == pytest.approx(224, rel=0.01)
    assert TQ12_P.thrust_design / 1e3 == pytest.approx(657, rel=0.01)
    assert LAB_P.mdot_design == pytest.approx(0.920, rel=0.01)
    assert LAB_P.thrust_design / 1e3 == pytest.approx(2.2, rel=0.03)
    for p in (TQ12_P, LAB_P):
        assert 1.0e-3 < p.tau_chamber_s < 1.6e-3


def test_chamber_empties_with_its_time_constant() -> None:
    """Cut the inflow at steady state: choked outflow ṁ = Pc·At/c* empties the chamber as
    exp(−t/τc), and the exact step reproduces that factor to rounding, step after step."""
    p = LAB_P
    e = steady_engine(p)
    pc0 = e.pc
    k = math.exp(-e.dt / p.tau_chamber_s)
    e.cmd_ox = e.cmd_fuel = 0.0
    e.pos_ox = e.pos_fuel = 0.0  # valves slammed shut (test only): no inflow at all
    for n in (1, 2, 3):
        e.run(1)
        assert e.pc == pytest.approx(pc0 * k**n, rel=1e-9)
    e.run(50)
    assert e.pc == pytest.approx(PA)  # no longer choked: it sits at ambient


def time_to(values: list[float], times: list[float], threshold: float) -> float:
    for t, v in zip(times, values):
        if v >= threshold:
            return t
    raise AssertionError(f"never reached {threshold}")


def test_start_rise_times_within_reference_ranges() -> None:
    # TQ-12-like: 0.3 s valves, 0.4 s pump lag -> reference model ~0.7 s to 90 % Pc; ours must
    # land in 0.4-1.5 s. Lab: fast pressure-fed start, within 2 % by ~165 ms in the reference.
    for stand, lo, hi in ((TQ12, 0.4, 1.5), (LAB, 0.01, 0.3)):
        rig = Rig(stand)
        rated = rig.stand.limits.pc_rated
        rig.start()
        t0 = rig.fw.t
        log = rig.run_sampling(3.0, "pc")
        t90 = time_to(log["pc"], log["t"], 0.9 * rated) - t0
        assert lo < t90 < hi, (stand.name, t90)
        tail = np.array(log["pc"][-500:])
        assert abs(tail.mean() - rated) / rated < 0.02
    # lab, on the plant's own Pc (the sensor adds 1 % combustion roughness): within 2 % of
    # 2.0 MPa from 0.3 s after the fuel command on, and no overshoot beyond 5 %
    rig = Rig(LAB)
    rig.start()
    e = rig.fw.engine
    t_fuel = e.t
    trace = []
    for _ in range(600):
        rig.run(0.001)
        trace.append((e.t - t_fuel, e.pc / 1e6))
    assert e.peak_pc / 1e6 < 1.05 * 2.0
    assert max(abs(v - 2.0) for t, v in trace if t > 0.3) < 0.02 * 2.0


def settle_time(times: list[float], values: list[float], final: float, band: float) -> float:
    """Last time the trace was outside ±band·final."""
    last_out = times[0]
    for t, v in zip(times, values):
        if abs(v - final) > band * final:
            last_out = t
    return last_out - times[0]


def test_tq12_throttle_steps_settle() -> None:
    e = steady_engine(TQ12_P, 4.0)
    p = TQ12_P
    finals = {}
    for pct in (60, 80, 100):
        # the GG valve sets turbine power; ramp it at the valve's stroke rate like a step command
        e.cmd_gg = p.gg_design_opening * pct / 100.0 * 0.95 if pct < 100 else p.gg_design_opening
        times, pcs = [], []
        for _ in range(5000):
            e.run(1)
            times.append(e.t)
            pcs.append(e.pc)
        final = float(np.mean(pcs[-200:]))
        finals[pct] = final
        ts = settle_time(times, pcs, final, 0.02)
        assert 0.3 < ts < 3.0, (pct, ts)  # reference: 100→60 % settles within 2 % in ≈1.7 s
    assert finals[60] < finals[80] < finals[100]


@pytest.mark.parametrize("preset", ["tq12", "lab"])
def test_throttle_range_40_to_110_percent(preset: str) -> None:
    p = PRESETS[preset]
    e = steady_engine(p, 3.0)
    reached = []
    for target in (0.40, 1.10):
        # bisection on the throttle input at steady state
        lo, hi = 0.05, 1.0 if p.pump_fed else 1.0
        for _ in range(18):
            mid = 0.5 * (lo + hi)
            if p.pump_fed:
                e.cmd_gg = mid
            else:
                e.cmd_ox = e.cmd_fuel = mid
            e.run(2500 if p.pump_fed else 400)
            if e.pc < target * p.pc_design:
                lo = mid
            else:
                hi = mid
        reached.append(e.pc / p.pc_design)
        assert e.burning, f"{preset} flamed out throttling to {target:.0%}"
        # conservation at each throttle point, with c* at this chamber pressure, not the design's
        e.run(1500 if p.pump_fed else 300)
        cstar_measured = e.pc * p.throat_area / (e.mdot_ox + e.mdot_fuel)
        assert cstar_measured == pytest.approx(p.eta_cstar * p.cstar_table(e.of, e.pc), rel=0.005)
    assert reached[0] == pytest.approx(0.40, abs=0.02)
    assert reached[1] == pytest.approx(1.10, abs=0.02)


def test_late_ignition_gives_a_hard_start_spike_growing_with_what_piled_up() -> None:
    """The unburned propellant accumulated before ignition sets the spike: the reference model
    (shared/reference/engine-model.md) gives ≈ 4.7x rated Pc for 100 ms late on the lab engine and
    ≈ 6.9x for 250 ms; a nominal start does not overshoot."""
    peaks = {}
    for late in (0.0, 0.1, 0.25):
        rig = Rig(LAB, faults=(f"late_ignition:delay={late}@0",) if late else ())
        rig.start()
        rig.run(0.6)
        peaks[late] = rig.fw.engine.peak_pc / 1e6 / 2.0
    assert peaks[0.0] < 1.05
    assert peaks[0.1] == pytest.approx(4.7, rel=0.1)
    assert peaks[0.25] == pytest.approx(6.9, rel=0.1)


def test_cstar_depends_on_chamber_pressure_and_has_the_peak_row() -> None:
    """The equilibrium grid (firmware_sim/data, from the reference): at O/F 3.4 c* at 4 MPa is
    ≈ 0.9 % below 10 MPa (more dissociation), 30 % throttle reads ≈ 1.3 % low against a table
    fixed at design Pc; the O/F 2.75 row holds the peak that interpolating 2.5-3.0 misses."""
    from firmware_sim.thermo import CSTAR, read_grid

    assert CSTAR(3.4, 4e6) / CSTAR(3.4, 10e6) == pytest.approx(1 - 0.009, abs=0.001)
    assert 1 - CSTAR(3.4, 3e6) / CSTAR(3.4, 10e6) == pytest.approx(0.013, abs=0.002)
    peak = CSTAR(2.75, 10e6)
    assert peak > CSTAR(2.5, 10e6) and peak > CSTAR(3.0, 10e6)
    assert 1 - 0.5 * (CSTAR(2.5, 10e6) + CSTAR(3.0, 10e6)) / peak == pytest.approx(0.004, abs=0.001)
    ofs, pcs, table = read_grid()  # every grid point is read back exactly; between them bilinear
    assert all(CSTAR(o, pc) == pytest.approx(table[i][j], abs=1e-9) for i, o in enumerate(ofs) for j, pc in enumerate(pcs))
    assert CSTAR(0.2, 10e6) == pytest.approx(600.0) and CSTAR(50.0, 1e6) < CSTAR(50.0, 10e6)  # [E] rows, scaled


def test_no_ignition_without_igniter_cold_flow() -> None:
    rig = Rig(LAB)
    rig.set(ox_main=50)
    rig.run(0.05)
    rig.set(fuel_main=50)
    log = rig.run_sampling(1.0, "pc", "p_inj_ox")
    assert rig.fw.engine.ignitions == 0
    assert max(log["pc"]) < 0.3  # liquid through the throat: a few tenths of a bar
    assert log["p_inj_ox"][-1] > 0.5  # propellant is flowing: manifold pressure is up
    assert rig.fw.engine.mdot_ox > 0.5


def test_relight_three_times() -> None:
    rig = Rig(LAB)
    pcs = []
    for _ in range(3):
        rig.start()
        rig.run(1.0)
        pcs.append(rig.value("pc"))
        rig.shutdown()
        rig.run(1.0)  # purge
        assert rig.value("pc") < 0.15, "chamber must be back to ambient before a relight"
        rig.set(purge=0)
        rig.run(0.5)
    assert rig.fw.engine.ignitions == 3
    for pc in pcs:
        assert pc == pytest.approx(2.0, rel=0.03)


def test_wall_temperature_rises_with_burn_time() -> None:
    rig = Rig(LAB)
    rig.start()
    temps = []
    for _ in range(6):
        rig.run(1.0)
        temps.append(rig.fw.engine.wall_temp)
    assert all(b > a for a, b in zip(temps, temps[1:]))
    assert temps[-1] - temps[0] > 50
    rig.shutdown()
    rig.run(5.0)
    assert rig.fw.engine.wall_temp < temps[-1]


def test_deterministic_for_a_seed() -> None:
    def trace(seed: int) -> list[int]:
        rig = Rig(TQ12, seed=seed)
        rig.start()
        out = []
        for _ in range(300):
            rig.run(0.002)
            out.extend(rig.fw.read_input_registers(16, 16))
        return out

    assert trace(3) == trace(3)
    assert trace(3) != trace(4)


def test_sensor_noise_and_quantisation() -> None:
    rig = Rig(LAB)
    rig.start()
    rig.run(2.0)
    log = rig.run_sampling(1.0, "pc")
    pcs = np.array(log["pc"])
    gain = rig.stand.channel("pc").calibration.gain
    counts = (pcs + 0.5) / gain
    assert np.allclose(counts, np.round(counts), atol=1e-6)  # 16-bit counts
    # transducer noise (0.15 % FS) plus combustion roughness (1 % rms): a few tens of kPa
    assert 0.005 < pcs.std() < 0.05
