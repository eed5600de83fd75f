"""Per-burn start figures (issue 24): when the igniter was proven, when ignition was confirmed,
and how hard the start was (peak Pc and peak rate of rise in the start transient).

Computed from one run's own recording and events only — the columns of data.arrow and the
``ignition_confirmed`` events of events.jsonl — so a run re-evaluated later gives the same
figures. A figure that cannot be known is NaN, never 0: no igniter channel on the stand (or
one never read, or never above its threshold) leaves the igniter-proven time NaN; a burn whose
ignition was never confirmed has NaN for its ignition time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa

from hil.stand import StandConfig

NAN = float("nan")
TAIL_S = 0.3  # an unconfirmed attempt: what followed its shutdown (a late light) still counts


def _col(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False).astype(float)


def _r(x: float, nd: int) -> float | None:
    """Rounded, or None (``null`` in summary.json, as every other unknown burn figure, t90_s
    among them: strict JSON has no NaN) when it cannot be known."""
    return round(x, nd) if math.isfinite(x) else None


def start_figures(table: pa.Table, stand: StandConfig, windows: list[tuple[int, int]],
                  events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each burn window (start row, end row) of hil.record.metrics.burn_windows:

    - ``t_igniter_proven_s``: run time the igniter channel first read above
      ``igniter_proven_above`` since the igniter was last switched on before the burn;
    - ``t_ignition_s``: run time of the controller's ``ignition_confirmed`` event in the burn;
    - ``start_pc_peak_mpa``, ``start_rate_peak_mpa_s``: of the ignition channel (``[ignition]
      channel``; the stand's Pc channel without an ``[ignition]`` table) over the start transient — from the
      first chamber propellant valve opening (a LOX lead included) until ``start_transient_s``
      after ignition was confirmed, or to ``TAIL_S`` after the burn ended when it was not — the
      peak Pc and the peak rate of rise held over ``hard_start_samples`` samples (what the
      controller's ``hard_start_rate`` is compared with);
    - ``start_from_s``, ``start_to_s``: that transient's bounds in run time.
    """
    if table.num_rows == 0 or not windows:
        return [{} for _ in windows]
    t = _col(table, "time")
    ign_cfg = stand.ignition
    # the channel the controller's hard-start check watches, so the peak rate is the one it compared
    pc = _col(table, ign_cfg.channel if ign_cfg else stand.limits.pc_channel)
    transient_s = ign_cfg.start_transient_s if ign_cfg else 1.0
    samples = ign_cfg.hard_start_samples if ign_cfg else 2
    chamber = [a for a in stand.actuators if a.propellant in ("ox", "fuel") and a.feeds == "chamber"]
    any_open = np.logical_or.reduce([_col(table, f"cmd.{a.name}") > 0 for a in chamber]) if chamber \
        else np.zeros(len(t), dtype=bool)
    igniter = [a for a in stand.actuators if a.kind == "igniter"]
    ign_on = np.logical_or.reduce([_col(table, f"cmd.{a.name}") > 0 for a in igniter]) if igniter \
        else np.zeros(len(t), dtype=bool)
    proof = None
    if ign_cfg and ign_cfg.igniter_channel and ign_cfg.igniter_channel in table.column_names:
        proof = _col(table, ign_cfg.igniter_channel) > ign_cfg.igniter_proven_above  # NaN: not proven
    confirmed = sorted(float(e["t"]) for e in events if e.get("kind") == "ignition_confirmed")
    out = []
    prev_end = -1
    for s, e in windows:
        first = _run_start(any_open, s, prev_end)
        t_conf = next((c for c in confirmed if t[first] - 1e-9 <= c <= t[e] + 1e-9), NAN)
        t_proven = NAN
        if proof is not None:
            on = _run_start(ign_on, s, prev_end) if ign_on[s] else s
            hit = np.flatnonzero(proof[on : e + 1])
            t_proven = float(t[on + hit[0]]) if hit.size else NAN
        t_to = t_conf + transient_s if math.isfinite(t_conf) else t[e] + TAIL_S
        last = int(np.searchsorted(t, t_to, side="right"))
        seg_t, seg_pc = t[first:last], pc[first:last]
        peak = float(np.nanmax(seg_pc)) if np.isfinite(seg_pc).any() else NAN
        out.append({"t_igniter_proven_s": _r(t_proven, 4), "t_ignition_s": _r(t_conf, 4),
                    "start_from_s": _r(float(t[first]), 4), "start_to_s": _r(float(seg_t[-1]), 4),
                    "start_pc_peak_mpa": _r(peak, 4), "start_rate_peak_mpa_s": _r(_held_rate(seg_t, seg_pc, samples), 1)})
        prev_end = e
    return out


def _run_start(mask: np.ndarray, row: int, floor: int) -> int:
    """The first row of the run of True in ``mask`` that holds at ``row`` (not before ``floor``)."""
    closed = np.flatnonzero(~mask[floor + 1 : row + 1])
    return floor + 1 + int(closed[-1]) + 1 if closed.size else floor + 1


def _held_rate(t: np.ndarray, x: np.ndarray, samples: int) -> float:
    """The highest rate of rise held for ``samples`` consecutive sample intervals (NaN where a
    sample is unknown; NaN when none is known)."""
    if len(t) < samples + 1:
        return NAN
    rate = np.diff(x) / np.diff(t)
    held = rate[samples - 1 :].copy()
    for k in range(1, samples):
        held = np.minimum(held, rate[samples - 1 - k : len(rate) - k])  # NaN (unknown) is no rise
    return float(np.nanmax(held)) if np.isfinite(held).any() else NAN
