"""Lumped transient model of a LOX/methane engine on a test stand.

Follows shared/reference/engine-model.md: chamber pressure by the exact exponential step,
c*(O/F, Pc) from firmware_sim.thermo, valve and injector orifices in series, rate-limited valve
strokes, a turbopump lag for the pump-fed preset, unburned-propellant accumulation before
ignition (late ignition -> hard start), GN2 purge, thrust from Cf, a load-cell stand mode and
a chamber wall that heats with burn time.

Speed matters: lockstep tests and the fault matrix run thousands of simulated seconds, so
:meth:`Engine.run` advances many steps in one call with all state in local variables (pure
Python floats; numpy's per-call overhead would dominate a scalar model this small).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from firmware_sim.params import GAMMA2, LAB, PA, PRESETS, TQ12, TUNABLE, EngineParams
from firmware_sim.truth import EngineTruth

__all__ = ["GAMMA2", "LAB", "PA", "PRESETS", "TQ12", "TUNABLE", "Engine", "EngineParams", "engine_params"]

CSTAR_N2 = 436.0  # GN2 at 300 K, m/s: what the purge gas alone does to Pc
OF_STOICH = 4.0  # CH4 + 2 O2: 64/16
ISO_STROKE_S = 0.1  # isolation (run) valves: fast on/off ball valves [E]


def engine_params(preset: str, overrides: tuple[tuple[str, float], ...] | dict[str, float] = ()) -> EngineParams:
    """A preset with some parameters replaced; ValueError naming the parameter when one is not
    tunable or the result is not an engine (a supply pressure below Pc + injector ΔP, a zero time)."""
    items = dict(overrides)
    bad = [k for k in items if k not in TUNABLE]
    if bad:
        raise ValueError(f"unknown engine parameter(s) {', '.join(bad)}; tunable: {', '.join(TUNABLE)}")
    for k, v in items.items():
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"engine parameter {k} = {v!r} must be a number ≥ 0")
    changes: dict[str, Any] = {k: float(v) for k, v in items.items()}
    p = replace(PRESETS[preset], **changes)
    try:
        Engine(p)  # derives the orifices: refuses a design point that cannot flow
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"{', '.join(f'{k} = {v:g}' for k, v in items.items())} does not make an engine: {exc}") \
            from None
    return p


class Engine:
    """The plant. Inputs are set as attributes (``cmd_ox`` etc., fractions 0..1; booleans for
    igniter and purge); :meth:`run` advances time; outputs are attributes read afterwards.
    """

    def __init__(self, params: EngineParams, dt: float = 1e-3) -> None:
        self.p = params
        self.dt = dt
        # commands
        self.cmd_ox = 0.0
        self.cmd_fuel = 0.0
        self.cmd_gg = 0.0
        # isolation (run) valves upstream of the main valves: open unless a stand drives them
        self.cmd_ox_iso = 1.0
        self.cmd_fuel_iso = 1.0
        self.igniter = False
        self.purge = False
        # injected plant faults
        self.igniter_healthy = True  # False: the igniter is lit but cannot light the main chamber
        self.igniter_fails = False  # True: the igniter itself never lights (no igniter pressure)
        self.abort_switch = 0.0  # the level on the stand's hardware ABORT input (the firmware sets it released)
        self.extra_ignition_delay_s = 0.0
        self.slow_ox = self.slow_fuel = self.slow_gg = 1.0  # stroke-time factors (valve_slow fault)
        self.stuck_ox: float | None = None
        self.stuck_fuel: float | None = None
        self.stuck_gg: float | None = None
        self.stuck_ox_iso: float | None = None
        self.stuck_fuel_iso: float | None = None
        self.instability_amp = 0.0
        # state
        self.t = 0.0
        self.pos_ox = self.pos_fuel = self.pos_gg = 0.0
        self.pos_ox_iso = self.pos_fuel_iso = 1.0
        self.speed = 0.0  # turbopump speed, fraction of rated
        self.pc_state = PA
        self.mu_ox = self.mu_fuel = 0.0  # unburned propellant in the chamber, kg
        self.pool_ox = self.pool_fuel = 0.0  # ... of it pooled as liquid, kg
        self.burning = False
        self.ign_timer = 0.0
        self.igniter_on_s = 0.0  # the igniter switched on (and able to light) for this long
        self.ignitions = 0
        self.starve = 0.0
        self.wall_temp = 293.0
        self.lc_y = 0.0
        self.lc_v = 0.0
        # outputs
        self.pc = PA
        self.thrust = 0.0
        self.mdot_ox = self.mdot_fuel = 0.0
        self.p_sup_ox = self.p_sup_fuel = params.pump_inlet_pressure if params.pump_fed else params.supply_pressure
        self.p_inj_ox = self.p_inj_fuel = PA
        self.p_purge = PA
        self.p_igniter = PA
        self.peak_pc = PA
        self.over_count = 0  # consecutive steps above the last run's stop_pc, at its end
        self._derive()

    def truth(self) -> EngineTruth:
        """What the plant really is now (a lockstep run's summary reports it)."""
        return EngineTruth(ignitions=self.ignitions, peak_pc_mpa=round(self.peak_pc / 1e6, 4), burning=self.burning,
                           pos_ox=self.pos_ox, pos_fuel=self.pos_fuel, pos_gg=self.pos_gg, pos_ox_iso=self.pos_ox_iso,
                           pos_fuel_iso=self.pos_fuel_iso, pc_mpa=round(self.pc / 1e6, 4), mdot_ox=self.mdot_ox,
                           mdot_fuel=self.mdot_fuel)

    def set_params(self, params: EngineParams) -> None:
        """Swap parameters mid-run (fault injection changes e.g. the instability frequency)."""
        self.p = params
        self._derive()

    def _derive(self) -> None:
        p, dt = self.p, self.dt
        ofd = p.of_design
        mdot = p.mdot_design
        m_ox, m_f = mdot * ofd / (1 + ofd), mdot / (1 + ofd)
        self.mdot_ox_design, self.mdot_fuel_design = m_ox, m_f
        self.cda_inj_ox = m_ox / math.sqrt(2 * p.rho_ox * p.dp_inj_design) * p.cda_inj_ox_scale
        self.cda_inj_fuel = m_f / math.sqrt(2 * p.rho_fuel * p.dp_inj_design) * p.cda_inj_fuel_scale
        dp_valve = p.supply_pressure - p.pc_design - p.dp_inj_design
        if dp_valve <= 0:
            raise ValueError(f"{p.name}: supply pressure leaves no ΔP across the valves")
        self.cda_valve_ox = m_ox / math.sqrt(2 * p.rho_ox * dp_valve) / p.valve_design_opening * p.cda_valve_ox_scale
        self.cda_valve_fuel = m_f / math.sqrt(2 * p.rho_fuel * dp_valve) / p.valve_design_opening \
            * p.cda_valve_fuel_scale
        self.pump_rise = (p.supply_pressure - p.pump_inlet_pressure) * p.pump_head_scale
        self.k_chamber = math.exp(-dt / p.tau_chamber_s)
        self.k_tp = math.exp(-dt / p.tau_turbopump_s)
        self.k_drain = math.exp(-dt / p.tau_drain_s)
        self.k_drain_purge = math.exp(-dt / (p.tau_drain_s * 0.25))
        self.k_pool = math.exp(-dt / p.tau_pool_s)
        self.k_pool_purge = math.exp(-dt / (p.tau_pool_s * 0.25))
        self.k_burn = math.exp(-dt / p.tau_burn_s)
        self.k_wall_heat = math.exp(-dt / p.tau_wall_heat_s)
        self.k_wall_cool = math.exp(-dt / p.tau_wall_cool_s)
        at = p.throat_area
        a = self.k_chamber
        wn = 2.0 * math.pi * p.loadcell_hz
        # everything run() needs that only changes with the parameters, unpacked in one go
        self._consts = (
            dt, dt / p.valve_stroke_s, p.pump_fed, at, p.cstar_table, p.eta_cstar, a, 1.0 - a,
            2.0 * p.rho_ox, 2.0 * p.rho_fuel, 1.0 / self.cda_inj_ox**2, 1.0 / self.cda_inj_fuel**2,
            self.cda_valve_ox, self.cda_valve_fuel, p.presence_frac * m_ox, p.presence_frac * m_f,
            1.0 / (2.0 * 800.0 * at * at),  # liquid through the throat as an orifice (cold flow)
            p.purge_mdot * CSTAR_N2 / at, self.k_burn, p.wall_dt_design, 293.0, p.pc_design,
            p.gg_design_opening, p.spin_start_frac, self.k_tp, p.pump_inlet_pressure, self.pump_rise,
            p.supply_pressure, p.tank_droop_frac / m_ox, m_ox, self.k_wall_heat, self.k_wall_cool,
            2.0 * math.pi * p.instability_hz, p.eta_cf * p.cf_vac * at, PA * at * p.expansion_ratio,
            wn * wn, 2.0 * p.loadcell_zeta * wn, p.flameout_s, p.pool_frac, p.pool_frac * p.tau_pool_s,
            (1.0 - p.pool_frac) * p.tau_drain_s,
        )

    def run(self, n: int, stop_pc: float = math.inf, stop_count: int = 1, over_before: int = 0) -> int:
        """Advance ``n`` steps of ``dt``. Returns the steps done: fewer than ``n`` when Pc has
        exceeded ``stop_pc`` for ``stop_count`` consecutive steps (the firmware's overpressure
        interlock must act at that step, not at the end of a batch). ``over_before`` carries the
        consecutive steps above it from the previous call, and :attr:`over_count` is the count
        the call ends with: the firmware calls this with batches of any size, 1 or 2 scans
        included, and the count must not restart at a call's edge."""
        (dt, rate, pump_fed, at, cstar_of, eta, a, ka, rho2_ox, rho2_f, inv_inj_ox, inv_inj_f, cv_ox, cv_f,
         thr_ox, thr_f, k_cold, pc_purge, kb, wall_dt, t_amb, pcd, gg_open, spin, k_tp, p_in, rise,
         p_tank, droop, md_ox_d, k_wh, k_wc, w_inst, cf_at, pa_ae, wn2, c_lc, flameout_s, fpool, tpool,
         tspray) = self._consts
        delay = self.p.ignition_delay_s + self.extra_ignition_delay_s
        healthy = self.igniter_healthy
        cmd_ox = self.cmd_ox if self.stuck_ox is None else self.stuck_ox
        cmd_f = self.cmd_fuel if self.stuck_fuel is None else self.stuck_fuel
        cmd_gg = self.cmd_gg if self.stuck_gg is None else self.stuck_gg
        start_g = self.cmd_gg / gg_open  # the start system fires on the GG command (not its valve)
        cmd_oi = self.cmd_ox_iso if self.stuck_ox_iso is None else self.stuck_ox_iso
        cmd_fi = self.cmd_fuel_iso if self.stuck_fuel_iso is None else self.stuck_fuel_iso
        iso_rate = dt / ISO_STROKE_S
        rate_o, rate_f, rate_g = rate / self.slow_ox, rate / self.slow_fuel, rate / self.slow_gg
        ign, purge = self.igniter, self.purge
        ig_on, ig_light = self.igniter_on_s, self.p.igniter_light_s
        if self.igniter_fails:
            ign = False
        kd = self.k_drain_purge if purge else self.k_drain
        kp = self.k_pool_purge if purge else self.k_pool
        inst = self.instability_amp

        t, pos_o, pos_f, pos_g, w = self.t, self.pos_ox, self.pos_fuel, self.pos_gg, self.speed
        pos_oi, pos_fi = self.pos_ox_iso, self.pos_fuel_iso
        pc, mu_o, mu_f, burning, ign_timer = self.pc_state, self.mu_ox, self.mu_fuel, self.burning, self.ign_timer
        pl_o, pl_f = self.pool_ox, self.pool_fuel
        tw, lc_y, lc_v, peak = self.wall_temp, self.lc_y, self.lc_v, self.peak_pc
        ignitions, starve = self.ignitions, self.starve
        mo, mf, pup = self.mdot_ox, self.mdot_fuel, self.p_sup_ox
        pc_out = pc
        over = over_before
        done = 0
        while done < n:
            done += 1
            t += dt
            # valves: rate-limited stroke toward the command
            d = cmd_ox - pos_o
            pos_o += rate_o if d > rate_o else -rate_o if d < -rate_o else d
            if pos_oi != cmd_oi:
                d = cmd_oi - pos_oi
                pos_oi += iso_rate if d > iso_rate else -iso_rate if d < -iso_rate else d
            if pos_fi != cmd_fi:
                d = cmd_fi - pos_fi
                pos_fi += iso_rate if d > iso_rate else -iso_rate if d < -iso_rate else d
            d = cmd_f - pos_f
            pos_f += rate_f if d > rate_f else -rate_f if d < -rate_f else d
            # supply pressure
            if pump_fed:
                d = cmd_gg - pos_g
                pos_g += rate_g if d > rate_g else -rate_g if d < -rate_g else d
                # lit: the GG (its valve's position) drives the turbine; before the chamber
                # lights, the start system (spin-start) drives it toward spin_start_frac of
                # design speed from the moment the GG is commanded, whatever its valve's stroke
                g = pos_g / gg_open
                wt = g if burning else (spin * (start_g if start_g < 1.0 else 1.0) if start_g > 0.0 else 0.0)
                w = wt + (w - wt) * k_tp
                pup = p_in + rise * w * w
            else:
                pup = p_tank * (1.0 + droop * (md_ox_d - mo))
            # orifices in series (valve then injector): ṁ = C·sqrt(p_supply − Pc)
            if pos_o > 0.0 and pos_oi > 0.0:
                cv = pos_o * pos_oi * cv_ox
                co = math.sqrt(rho2_ox / (1.0 / (cv * cv) + inv_inj_ox))
            else:
                co = 0.0
            if pos_f > 0.0 and pos_fi > 0.0:
                cv = pos_f * pos_fi * cv_f
                cfu = math.sqrt(rho2_f / (1.0 / (cv * cv) + inv_inj_f))
            else:
                cfu = 0.0
            ctot = co + cfu
            # ignition, accumulation, burning (decided on last step's flows)
            ig_on = ig_on + dt if ign else 0.0
            burn = 0.0
            if burning:
                if mo < thr_ox or mf < thr_f:
                    starve += dt  # a propellant is missing; the flame outlives it briefly
                    if starve > flameout_s:
                        burning = False
                        starve = 0.0
                else:
                    starve = 0.0
                if burning and (mu_o > 0.0 or mu_f > 0.0):
                    burnable = min(mu_o, OF_STOICH * mu_f) + min(mu_f, mu_o / OF_STOICH)
                    burn = burnable * (1.0 - kb) / dt
                    mu_o *= kb
                    mu_f *= kb
                    if mu_o + mu_f < 1e-9:
                        mu_o = mu_f = 0.0
            # chamber: exact exponential step, solved implicitly with the feed flows
            # (Pc+ = a·Pc + (1−a)·Pss(Pc+) has a closed form because both feeds see the
            # same supply pressure), so it stays stable when the feed ΔP is tiny.
            base = pc_purge if purge else 0.0
            if burning:
                g = eta * cstar_of(co / cfu if cfu > 0.0 else 50.0, pc) / at
                aa = a * pc + ka * (burn * g + base)
                if aa >= pup or ctot == 0.0:
                    pc, v = (aa if aa > PA else PA), 0.0  # choked outflow empties toward ambient
                else:
                    kk = ka * g * ctot
                    v = 0.5 * (math.sqrt(kk * kk + 4.0 * (pup - aa)) - kk)
                    pc = pup - v * v
            else:
                kc = k_cold * ctot * ctot
                pc = (a * pc + ka * (PA + base + kc * pup)) / (1.0 + ka * kc)
                v = math.sqrt(pup - pc) if pup > pc else 0.0
            mo = co * v
            mf = cfu * v
            if not burning:
                # unburned: spray and vapour drain fast, pooled liquid slowly (both burn at ignition)
                mu_o = mo * tspray + (mu_o - mo * tspray) * kd
                mu_f = mf * tspray + (mu_f - mf * tspray) * kd
                if fpool or pl_o or pl_f:
                    pl_o = mo * tpool + (pl_o - mo * tpool) * kp
                    pl_f = mf * tpool + (pl_f - mf * tpool) * kp
                if ig_on >= ig_light and healthy and mo > thr_ox and mf > thr_f:
                    ign_timer += dt
                    if ign_timer >= delay:
                        burning = True
                        ignitions += 1
                        ign_timer = 0.0
                        mu_o, mu_f, pl_o, pl_f = mu_o + pl_o, mu_f + pl_f, 0.0, 0.0
                else:
                    ign_timer = 0.0
            pc_out = pc * (1.0 + inst * math.sin(w_inst * t)) if (inst and burning) else pc
            if pc_out > peak:
                peak = pc_out
            # thrust and the stand's load-cell mode
            f = cf_at * pc_out - pa_ae
            if f < 0.0:
                f = 0.0
            lc_v += dt * (wn2 * (f - lc_y) - c_lc * lc_v)
            lc_y += dt * lc_v
            # chamber wall
            if burning:
                tss = t_amb + wall_dt * (pc / pcd) ** 0.8
                tw = tss + (tw - tss) * k_wh
            else:
                tw = t_amb + (tw - t_amb) * k_wc
            if pc_out > stop_pc:
                over += 1
                if over >= stop_count:
                    break
            else:
                over = 0

        self.over_count = over
        self.t, self.pos_ox, self.pos_fuel, self.pos_gg, self.speed = t, pos_o, pos_f, pos_g, w
        self.pos_ox_iso, self.pos_fuel_iso = pos_oi, pos_fi
        self.pc_state, self.mu_ox, self.mu_fuel, self.burning, self.ign_timer = pc, mu_o, mu_f, burning, ign_timer
        self.pool_ox, self.pool_fuel = pl_o, pl_f
        self.wall_temp, self.lc_y, self.lc_v, self.peak_pc = tw, lc_y, lc_v, peak
        self.ignitions, self.starve = ignitions, starve
        self.igniter_on_s = ig_on
        lit_s = ig_on - ig_light
        self.p_igniter = PA + (self.p.igniter_pc - PA) * -math.expm1(-lit_s / self.p.tau_igniter_s) if lit_s >= 0 else PA
        self.pc = pc_out
        self.mdot_ox, self.mdot_fuel = mo, mf
        if done:
            self.p_sup_ox = self.p_sup_fuel = pup
        self.p_inj_ox = pc + (mo / self.cda_inj_ox) ** 2 / rho2_ox
        self.p_inj_fuel = pc + (mf / self.cda_inj_fuel) ** 2 / rho2_f
        self.p_purge = self.p.purge_supply_pressure if purge else PA
        self.thrust = lc_y
        return done

    @property
    def of(self) -> float:
        """Mixture ratio of the current flows (0 when no fuel flows)."""
        return self.mdot_ox / self.mdot_fuel if self.mdot_fuel > 1e-12 else 0.0

    def signal(self, name: str) -> float:
        """A plant output by source name, in SI-friendly engineering units (MPa, kN, K, %, rpm)."""
        return SIGNALS[name](self)


SIGNALS = {
    "pc": lambda e: e.pc / 1e6,
    "thrust": lambda e: e.thrust / 1e3,
    "p_inj_ox": lambda e: e.p_inj_ox / 1e6,
    "p_inj_fuel": lambda e: e.p_inj_fuel / 1e6,
    "p_sup_ox": lambda e: e.p_sup_ox / 1e6,
    "p_sup_fuel": lambda e: e.p_sup_fuel / 1e6,
    "p_purge": lambda e: e.p_purge / 1e6,
    "p_igniter": lambda e: e.p_igniter / 1e6,
    "wall_temp": lambda e: e.wall_temp,
    "pump_speed": lambda e: e.speed * e.p.pump_rated_rpm,
    "pos_ox": lambda e: e.pos_ox * 100.0,
    "pos_fuel": lambda e: e.pos_fuel * 100.0,
    "pos_gg": lambda e: e.pos_gg * 100.0,
    "pos_ox_iso": lambda e: e.pos_ox_iso * 100.0,
    "pos_fuel_iso": lambda e: e.pos_fuel_iso * 100.0,
    "mdot_ox": lambda e: e.mdot_ox,
    "mdot_fuel": lambda e: e.mdot_fuel,
    # limit switches (discrete inputs): made at the end of the stroke
    "ox_iso_open": lambda e: float(e.pos_ox_iso > 0.95),
    "fuel_iso_open": lambda e: float(e.pos_fuel_iso > 0.95),
    "ox_iso_closed": lambda e: float(e.pos_ox_iso < 0.05),
    "fuel_iso_closed": lambda e: float(e.pos_fuel_iso < 0.05),
    # the test conductor's hardware ABORT button, as wired to its discrete input
    "abort_switch": lambda e: e.abort_switch,
}
