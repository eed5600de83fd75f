"""Per-burn and per-throttle-step figures from a recorded run.

One module computes them for summary.json (and later the report), from the recorded columns
(and, for the start figures' ignition time, the run's own events), so a run recorded by anyone
can be re-evaluated: a burn starts when the igniter, an
oxidiser valve and a fuel valve are all commanded open and ends when a propellant valve is
commanded shut.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa

from hil.record.start_figures import start_figures
from hil.stand import ChannelRole, StandConfig


def _col(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False).astype(float)


def _first(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if len(idx) else None


IGNITION_HELD_ROWS = 3  # rows (ms at 1 kHz) Pc must stay above the threshold to count as lit


def _first_held(mask: np.ndarray, rows: int) -> int | None:
    """The first row from which ``mask`` holds for ``rows`` rows in a row (fewer at the end).

    Why: the chamber transducer reads ambient plus noise before ignition (0.1 MPa ± 0.03 on
    the TQ-12 stand, spikes to 0.18 against a 0.2 MPa threshold); one noisy sample over the
    line once made a 38 ms ignition read as 1 ms on a real-time run. A real light stays lit.
    """
    n = len(mask)
    if n == 0:
        return None
    k = max(1, min(rows, n))
    held = np.convolve(mask.astype(np.int32), np.ones(k, dtype=np.int32), mode="valid") == k
    return _first(held)


def hold_weights(t: np.ndarray) -> np.ndarray:
    """Each row's share of time: until the next row (the last row: the median step).

    Why: a real-time loop that misses deadlines records no row for the cycles it skipped, and
    it skips more in some phases than in others; a plain mean over rows then weighs a phase by
    how well the loop kept up during it (a deep-throttle burn read 6.69 MPa instead of 6.99 with
    22 % of its cycles skipped). In lockstep every row is one step and the weights are equal.
    """
    if len(t) < 2:
        return np.ones(len(t))
    step = np.diff(t)
    return np.append(step, np.median(step))


def time_mean(t: np.ndarray, x: np.ndarray) -> float | None:
    """The mean of ``x`` over time (each known sample held until the next row); None when no
    sample is known."""
    w = hold_weights(t)
    known = np.isfinite(x)
    total = float(np.sum(w[known]))
    return float(np.sum(w[known] * x[known]) / total) if total > 0 else None


def burn_windows(table: pa.Table, stand: StandConfig) -> list[tuple[int, int]]:
    """(start row, end row) of each burn from the commanded outputs."""
    acts = stand.actuators

    def any_open(pred) -> np.ndarray:  # noqa: ANN001
        cols = [_col(table, f"cmd.{a.name}") > 0 for a in acts if pred(a)]
        return np.logical_or.reduce(cols) if cols else np.zeros(table.num_rows, dtype=bool)

    ox = any_open(lambda a: a.propellant == "ox" and a.feeds == "chamber")
    fuel = any_open(lambda a: a.propellant == "fuel" and a.feeds == "chamber")
    ign = any_open(lambda a: a.kind == "igniter")
    both = ox & fuel
    windows = []
    i, n = 0, len(both)
    while i < n:
        start = _first(both[i:] & ign[i:])
        if start is None:
            break
        start += i
        end_rel = _first(~both[start:])
        end = n - 1 if end_rel is None else start + end_rel
        windows.append((start, end))
        i = end + 1
    return windows


def burn_metrics(table: pa.Table, stand: StandConfig, events: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Per burn: ignition delay, time to 90 % Pc, duration, mean and peak Pc, throttle steps, and
    the start figures (hil/record/start_figures.py; the ignition time needs the run's events)."""
    if table.num_rows == 0:
        return []
    windows = burn_windows(table, stand)
    starts = start_figures(table, stand, windows, list(events))
    t = _col(table, "time")
    pc = _col(table, stand.limits.pc_channel)
    sp = _col(table, "pc_setpoint") if "pc_setpoint" in table.column_names else np.full(len(t), np.nan)
    # ignition is detected at half the sequence's confirmation level: a pump-fed start lights
    # on tank head long before the pumps can carry Pc to the confirmation threshold
    thresh = 0.5 * stand.ignition.confirm_above if stand.ignition else 0.05 * stand.limits.pc_rated
    rated = stand.limits.pc_rated or np.nanmax(pc)
    out = []
    for k, (s, e) in enumerate(windows):
        t0 = t[s]
        tail = min(len(t) - 1, e + int(0.3 / max(np.median(np.diff(t[: s + 2])) if s > 0 else 1e-3, 1e-6)))
        seg = slice(s, e + 1)
        ign = _first_held(pc[seg] > thresh, IGNITION_HELD_ROWS)
        burn: dict[str, Any] = {"index": k + 1, "t_start_s": round(float(t0), 4), "ignited": ign is not None,
                                "t_shutdown_s": round(float(t[e]), 4), **starts[k]}
        if ign is None:
            out.append(burn)
            continue
        t_ign = t[s + ign]
        finite_sp = sp[seg][np.isfinite(sp[seg])]
        target = float(finite_sp[0]) if len(finite_sp) else float(rated)  # the first commanded level
        i90 = _first(pc[seg] >= 0.9 * target)
        steady_from = s + (i90 if i90 is not None else ign)
        steady = pc[steady_from:e]  # up to, not including, the row the shutdown was commanded
        steady_mean = time_mean(t[steady_from:e], steady)
        extra = _burn_extras(table, stand, t, s + ign, e)
        burn.update({
            "ignition_delay_s": round(float(t_ign - t0), 4),
            "t90_s": round(float(t[s + i90] - t0), 4) if i90 is not None else None,
            "duration_s": round(float(t[e] - t_ign), 4),
            "pc_mean_mpa": round(steady_mean, 4) if steady_mean is not None else None,
            "pc_peak_mpa": round(float(np.nanmax(pc[s : tail + 1])), 4),
            "throttle_steps": throttle_steps(t[s : e + 1], pc[s : e + 1], sp[s : e + 1]),
            **extra,
        })
        out.append(burn)
    return out


def smooth(x: np.ndarray, n: int) -> np.ndarray:
    """Centered moving average over ``n`` samples (edges use what is there)."""
    if n <= 1 or len(x) < n:
        return x
    k = np.ones(n)
    return np.convolve(x, k, mode="same") / np.convolve(np.ones_like(x), k, mode="same")


def _nanmax(x: np.ndarray) -> float | None:
    """The largest known value (None: every sample unknown, NaN)."""
    finite = x[np.isfinite(x)]
    return float(finite.max()) if finite.size else None


def _burn_extras(table: pa.Table, stand: StandConfig, t: np.ndarray, i0: int, i1: int) -> dict[str, Any]:
    """Mean O/F (flowmeters), total impulse (thrust), peak wall temperature, over ignition → shutdown."""
    out: dict[str, Any] = {}
    seg = slice(i0, i1 + 1)
    ox = stand.with_role(ChannelRole.OX_FLOW)
    fu = stand.with_role(ChannelRole.FUEL_FLOW)
    if ox and fu:
        mo, mf = _col(table, ox)[seg], _col(table, fu)[seg]
        top = _nanmax(mf)
        good = mf > 1e-3 * max(top if top is not None else 0.0, 1e-9)  # NaN (not read) is never good
        w = hold_weights(t[seg])[good]  # over time, as pc_mean (a skipped cycle leaves no row)
        out["of_mean"] = round(float(np.nansum(w * mo[good]) / np.nansum(w * mf[good])), 4) if good.any() else None
    th = stand.with_role(ChannelRole.THRUST)
    if th:
        f = _col(table, th)[seg]
        out["total_impulse_kns"] = round(float(np.trapezoid(np.nan_to_num(f), t[seg])), 3)
    wall = stand.with_role(ChannelRole.WALL_TEMP)
    if wall:
        peak = _nanmax(_col(table, wall)[seg])
        out["wall_temp_peak_k"] = round(peak, 2) if peak is not None else None  # never read in the burn
    return out


def throttle_steps(t: np.ndarray, pc: np.ndarray, sp: np.ndarray, band: float = 0.02,
                   min_hold_s: float = 0.8, filter_s: float = 0.025) -> list[dict[str, Any]]:
    """For each plateau of the commanded Pc held ≥ ``min_hold_s``: when the command arrived,
    the settle time into ±``band`` (staying there), overshoot, and the steady tracking error
    (RMS and mean of (Pc − command)/command over the settled part, over time: hold_weights).

    Pc is first averaged over ``filter_s`` (25 ms): combustion roughness (~1 % rms at 1 kHz)
    would otherwise keep a ±2 % band from ever counting as settled.
    """
    steps: list[dict[str, Any]] = []
    if len(t) < 3 or not np.isfinite(sp).any():
        return steps
    dt = float(np.median(np.diff(t)))
    pc = smooth(pc, max(1, int(round(filter_s / dt))) if dt > 0 else 1)
    finite = np.isfinite(sp)
    change = np.flatnonzero(np.diff(sp) != 0)  # NaN→x and x→y both differ
    bounds = [0, *(change + 1).tolist(), len(sp)]
    prev_level = np.nan
    prev_end = None  # when the previous plateau ended: the throttle command, for a slewed step
    for a, b in zip(bounds, bounds[1:]):
        if b - a < 2 or not finite[a]:
            continue
        level = sp[a]
        if t[b - 1] - t[a] < min_hold_s:
            continue
        err = (pc[a:b] - level) / level
        outside = np.flatnonzero(np.abs(err) > band)
        if len(outside) == 0:
            settle = 0.0
        elif outside[-1] == b - a - 1:
            settle = None  # never settled on this plateau
        else:
            settle = float(t[a + outside[-1] + 1] - t[a])
        direction = np.sign(level - prev_level) if np.isfinite(prev_level) else 1.0
        over = float(np.max(direction * err)) if direction else 0.0
        first = outside[-1] + 1 if len(outside) and settle is not None else (0 if settle == 0.0 else b - a)
        settled, t_settled = err[first:], t[a + first : b]
        mean_err, mean_sq = time_mean(t_settled, settled), time_mean(t_settled, settled**2)  # over time, not rows
        ramp = float(t[a] - prev_end) if prev_end is not None else 0.0
        steps.append({
            "t_s": round(float(t[a]), 4), "pc_cmd_mpa": round(float(level), 4), "ramp_s": round(ramp, 4),
            "settle_from_command_s": round(ramp + settle, 4) if settle is not None else None,
            "from_mpa": round(float(prev_level), 4) if np.isfinite(prev_level) else None,
            "settle_s": round(settle, 4) if settle is not None else None,
            "overshoot_pct": round(100 * max(over, 0.0), 3),
            "tracking_rms_pct": round(100 * float(np.sqrt(mean_sq)), 3) if mean_sq is not None else None,
            "tracking_mean_pct": round(100 * mean_err, 3) if mean_err is not None else None,
        })
        prev_level = level
        prev_end = float(t[b - 1])
    return steps
