"""The campaign report's start envelope (issue 24): every burn's peak start Pc against the
ignition delay its engine had, coloured by the run's outcome, with the levels a start is judged
against — the firmware's overpressure limit and hard-start trip, the controller's hard-start
cut. One panel per stand (their levels differ). It reads the Parquet rows only."""

from __future__ import annotations

import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

OUTCOME_COLOURS = {"completed": "#2e7d32", "aborted": "#ef6c00", "fault": "#6a1b9a"}
OTHER = "#555555"
LEVELS = (("limit.overpressure_mpa", "overpressure limit (firmware)", "#d62728", "-"),
          ("limit.firmware_hard_start_mpa", "hard-start trip (firmware)", "#8c1c13", ":"),
          ("limit.controller_hard_start_mpa", "hard-start cut (controller)", "#ff9800", "--"))


def envelope_points(rows: list[dict[str, Any]], burns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per burn with a known delay and peak: stand, x, y, the run's outcome and whether
    it ended as expected."""
    runs = {(r["campaign"], r["run"]): r for r in rows}
    out = []
    for b in burns:
        x, y = b.get("engine_ignition_delay_s"), b.get("start_pc_peak_mpa")
        run = runs.get((b["campaign"], b["run"]))
        if run is None or not _known(x) or not _known(y):
            continue
        out.append({"stand": b["stand"], "x": float(x), "y": float(y), "outcome": run["outcome"],  # type: ignore[arg-type]
                    "as_expected": bool(run["as_expected"]), "levels": {k: b.get(k) for k, *_ in LEVELS}})
    return out


def _known(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def start_envelope(rows: list[dict[str, Any]], burns: list[dict[str, Any]]) -> bytes | None:
    """The figure as PNG (None when no burn has a start to draw: rows written before issue 24)."""
    points = envelope_points(rows, burns)
    if not points:
        return None
    stands = list(dict.fromkeys(p["stand"] for p in points))
    fig, axes = plt.subplots(1, len(stands), figsize=(6.2 * len(stands), 4.2), squeeze=False)
    for ax, stand in zip(axes.flat, stands):
        mine = [p for p in points if p["stand"] == stand]
        for outcome in dict.fromkeys(p["outcome"] for p in mine):
            sel = [p for p in mine if p["outcome"] == outcome]
            colour = OUTCOME_COLOURS.get(outcome, OTHER)
            ax.scatter([1000 * p["x"] for p in sel if p["as_expected"]], [p["y"] for p in sel if p["as_expected"]],
                       s=16, color=colour, alpha=0.75, label=f"{outcome} ({len(sel)} burns)")
            bad = [p for p in sel if not p["as_expected"]]
            if bad:
                ax.scatter([1000 * p["x"] for p in bad], [p["y"] for p in bad], s=40, color=colour, marker="x",
                           label=f"{outcome}, unexpected ({len(bad)})")
        drawn: set[float] = set()
        for key, label, colour, style in LEVELS:
            v = mine[0]["levels"].get(key)
            if _known(v) and round(float(v), 6) not in drawn:
                drawn.add(round(float(v), 6))
                ax.axhline(float(v), color=colour, ls=style, lw=1.4, label=f"{label} {float(v):g} MPa")
            elif _known(v):  # the same level as one drawn: say so in the legend
                ax.plot([], [], color=colour, ls=style, label=f"{label} {float(v):g} MPa (same line)")
        ax.set_title(stand, fontsize=10)
        ax.set_xlabel("ignition delay of the engine [ms]")
        ax.set_ylabel("peak Pc in the start transient [MPa]")
        ax.set_ylim(bottom=0.0)
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
