"""What a plot's channels measure, so the plots can say it: legend names carry the unit when one
plot mixes units (rpm beside MPa), a plot of valve percentages keeps its 0-100 % range (an idle
valve's noise must not fill the plot as if the valves were moving), and the channel picker
offers channels only (not the sequence clock or the commanded Pc, which are not measurements)."""

from __future__ import annotations

from typing import Any

NOT_CHANNELS = ("time", "state", "step", "t_seq", "pc_setpoint")  # row bookkeeping, not channels
MIN_SPAN = {"%": 100.0}  # a plot whose channels are all in these units shows at least this span from 0


def units_of(meta: dict[str, Any]) -> dict[str, str]:
    """Column name -> unit: channels by their declared unit, actuator commands (``cmd.x``) by
    the actuator's."""
    out = {c["name"]: str(c.get("units") or "") for c in meta.get("channels", [])}
    for a in meta.get("actuators", []):
        out[f"cmd.{a['name']}"] = str(a.get("units") or ("%" if a.get("kind") == "proportional" else ""))
    return out


def plot_units(names: list[str], units: dict[str, str]) -> set[str]:
    return {units.get(n, "") for n in names if n in units}


def legend_name(name: str, units: dict[str, str], mixed: bool) -> str:
    """``pump_speed [rpm]`` where a plot mixes units, the bare name where it does not."""
    u = units.get(name, "")
    return f"{name} [{u}]" if mixed and u else name


def fixed_range(names: list[str], units: dict[str, str]) -> tuple[float, float] | None:
    """The range a plot always shows at least (0-100 for a plot of percentages), or None."""
    us = plot_units(names, units)
    if len(us) == 1 and (u := next(iter(us))) in MIN_SPAN:
        return 0.0, MIN_SPAN[u]
    return None


def pickable(columns: list[str]) -> list[str]:
    """The columns the channel picker offers."""
    return [c for c in columns if c not in NOT_CHANNELS]
