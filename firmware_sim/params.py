"""What an engine is: the parameters of the lumped LOX/methane model (firmware_sim/engine.py)
and the two presets, TQ-12-like (pump-fed, gas generator) and lab-scale (pressure-fed), from
shared/reference/engine-model.md. [E] values there are parameters here, never buried constants,
so a stand can be tuned to its hardware and a campaign can disperse them (``TUNABLE``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from firmware_sim.thermo import CSTAR, CstarGrid

PA = 101_325.0  # ambient pressure, Pa
GAMMA2 = 0.40  # Γ² for methalox, sets τc = L*/(Γ² c*) (reference [C])


@dataclass(frozen=True)
class EngineParams:
    """Engine and stand parameters. [E] values in the reference are parameters here, never
    buried constants, so a stand can be tuned to its hardware."""

    name: str
    pump_fed: bool
    pc_design: float  # Pa
    of_design: float
    eta_cstar: float
    throat_area: float  # m²
    expansion_ratio: float
    cf_vac: float
    eta_cf: float
    rho_ox: float
    rho_fuel: float
    dp_inj_design: float  # Pa, injector ΔP at 100 %
    supply_pressure: float  # Pa: tank pressure (pressure-fed) or pump discharge at 100 % (pump-fed)
    pump_inlet_pressure: float  # Pa (pump-fed only)
    valve_design_opening: float  # valve position (0..1) that gives rated flow at 100 %
    valve_stroke_s: float  # full stroke time; position rate = 1/stroke
    gg_design_opening: float  # GG valve position at 100 % (pump-fed)
    tau_turbopump_s: float
    spin_start_frac: float  # turbopump speed from the start spin before the GG lights
    pump_rated_rpm: float
    lstar: float  # m
    ignition_delay_s: float
    tau_drain_s: float  # residence of unburned spray and vapour (drains through the throat as gas)
    tau_burn_s: float
    presence_frac: float  # a propellant is "present" above this fraction of its design flow
    purge_mdot: float  # kg/s GN2
    purge_supply_pressure: float  # Pa
    tank_droop_frac: float  # regulator droop: tank pressure falls by this fraction from no flow to 100 % flow
    wall_dt_design: float  # K above ambient the wall approaches at 100 %
    tau_wall_heat_s: float
    tau_wall_cool_s: float
    loadcell_hz: float
    loadcell_zeta: float
    flameout_s: float = 0.02  # burning survives this long without one propellant
    # unburned liquid that pools in a cold chamber (injector face, walls) instead of leaving as
    # spray: this fraction of the inflow, draining as liquid over tau_pool_s. It is what makes a
    # later ignition a harder start (the reference model: lab engine 100 ms late ≈ 4.7x rated Pc,
    # 250 ms late ≈ 6.9x), where the spray alone would saturate within a few tau_drain_s. [E]
    pool_frac: float = 0.1
    tau_pool_s: float = 0.5
    # one engine is not the design: its orifices and pump differ from what the design point
    # derives (a campaign disperses these; 1.0 is the design)
    cda_valve_ox_scale: float = 1.0
    cda_valve_fuel_scale: float = 1.0
    cda_inj_ox_scale: float = 1.0
    cda_inj_fuel_scale: float = 1.0
    pump_head_scale: float = 1.0  # turbopump pressure rise at a given speed (a weak pump < 1)
    instability_hz: float = 180.0
    # the igniter (spark torch) and its own proof: its chamber pressure rises to igniter_pc over
    # tau_igniter_s once it has lit, igniter_light_s after it is switched on; the main chamber can
    # light only from a lit igniter [E]
    igniter_light_s: float = 0.02
    igniter_pc: float = 0.8e6  # Pa absolute, lit
    tau_igniter_s: float = 0.005

    @property
    def cstar_table(self) -> CstarGrid:
        """Ideal c*(O/F, Pc) of LOX/LCH4 (firmware_sim.thermo); this engine's η goes on top."""
        return CSTAR

    @property
    def cstar_design(self) -> float:
        """Effective c* at the design point (η·c*_th at the design O/F and Pc)."""
        return self.eta_cstar * CSTAR(self.of_design, self.pc_design)

    @property
    def mdot_design(self) -> float:
        """Total chamber flow at rated Pc: ṁ = Pc·At/c*."""
        return self.pc_design * self.throat_area / self.cstar_design

    @property
    def thrust_design(self) -> float:
        """Sea-level thrust at rated Pc, N."""
        return self.eta_cf * self.cf_vac * self.pc_design * self.throat_area - PA * self.throat_area * self.expansion_ratio

    @property
    def tau_chamber_s(self) -> float:
        """Chamber filling time constant L*/(Γ² c*)."""
        return self.lstar / (GAMMA2 * self.cstar_design)


TQ12 = EngineParams(
    name="tq12", pump_fed=True, pc_design=10.0e6, of_design=3.4, eta_cstar=0.97,
    throat_area=0.0402, expansion_ratio=21.7, cf_vac=1.893, eta_cf=0.98,
    rho_ox=1141.0, rho_fuel=422.0, dp_inj_design=2.0e6, supply_pressure=12.5e6,
    pump_inlet_pressure=0.4e6, valve_design_opening=1.0, valve_stroke_s=0.3,
    gg_design_opening=0.8, tau_turbopump_s=0.4, spin_start_frac=1.0, pump_rated_rpm=18000.0,
    lstar=1.0, ignition_delay_s=0.03, tau_drain_s=0.02, tau_burn_s=0.003, presence_frac=0.02,
    purge_mdot=1.0, purge_supply_pressure=1.5e6, tank_droop_frac=0.0,
    wall_dt_design=500.0, tau_wall_heat_s=20.0, tau_wall_cool_s=60.0,
    loadcell_hz=40.0, loadcell_zeta=0.05, pool_frac=0.0,
)

LAB = EngineParams(
    name="lab", pump_fed=False, pc_design=2.0e6, of_design=3.0, eta_cstar=0.95,
    throat_area=8.06e-4, expansion_ratio=4.0, cf_vac=1.626, eta_cf=0.98,
    rho_ox=1141.0, rho_fuel=422.0, dp_inj_design=0.4e6, supply_pressure=3.0e6,
    pump_inlet_pressure=0.0, valve_design_opening=0.5, valve_stroke_s=0.15,
    gg_design_opening=1.0, tau_turbopump_s=1.0, spin_start_frac=0.0, pump_rated_rpm=0.0,
    lstar=1.0, ignition_delay_s=0.02, tau_drain_s=0.01, tau_burn_s=0.004, presence_frac=0.02,
    purge_mdot=0.01, purge_supply_pressure=1.0e6, tank_droop_frac=0.02,
    wall_dt_design=900.0, tau_wall_heat_s=40.0, tau_wall_cool_s=120.0,
    loadcell_hz=80.0, loadcell_zeta=0.05,
)

PRESETS: dict[str, EngineParams] = {"tq12": TQ12, "lab": LAB}

# the parameters a campaign may disperse or ``hil run --engine`` replace: every number of the
# plant (valve strokes, flow coefficients through the design point, pump lag, ignition delay,
# c* efficiency, ...), not its name or kind
TUNABLE: tuple[str, ...] = tuple(f.name for f in fields(EngineParams) if f.type in (float, "float"))
