"""Post-test review: ``report.html`` (self-contained: figures embedded, opens offline) and PNG
figures in the run directory, from the recorded data alone; ``compare`` overlays two runs.

Per-burn figures come from :mod:`hil.record.metrics`, the same code that fills summary.json.
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display needed; reports are written by CI and by headless runs
import matplotlib.pyplot as plt
import numpy as np

from hil import __version__
from hil.record.metrics import burn_metrics, burn_windows
from hil.record.recorder import read_events, read_run, read_summary, stand_of_run
from hil.stand import ChannelRole, Plot

EVENT_MARKS = {"redline": "#d62728", "abort": "#d62728", "fault": "#6a1b9a", "firmware_trip": "#6a1b9a",
               "ignition_confirmed": "#2ca02c", "shutdown_commanded": "#7f7f7f", "sensor_disqualified": "#ff7f0e"}



def _col(table: Any, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False).astype(float)



def _legend(ax: Any, **kw: Any) -> None:
    """A legend when the figure has something labelled (a run without a burn has no ignition to
    overlay: matplotlib warns on an empty legend, and warnings are errors in the tests)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)

def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def figures(run_dir: str | Path) -> dict[str, Path]:
    """Write the PNG figures; returns name → path."""
    d = Path(run_dir)
    table = read_run(d).table
    stand = stand_of_run(d)
    events = read_events(d)
    t = _col(table, "time")
    pcs = [c for c in (stand.limits.pc_channels or (stand.limits.pc_channel,)) if c in table.column_names]
    sp = _col(table, "pc_setpoint") if "pc_setpoint" in table.column_names else np.full(len(t), np.nan)
    out: dict[str, Path] = {}

    fig, ax = plt.subplots(figsize=(11, 4.2))
    for c in pcs:
        ax.plot(t, _col(table, c), lw=0.6, label=c)
    ax.plot(t, sp, color="k", lw=1.0, label="commanded Pc")
    for rl in stand.redlines:
        if set(rl.channels) & set(pcs):
            if np.isfinite(rl.max):
                ax.axhline(rl.max, color="#d62728", lw=0.8, ls="--")
                ax.text(t[0], rl.max, f" {rl.name}", color="#d62728", va="bottom", fontsize=7)
            if np.isfinite(rl.max_frac):
                ax.plot(t, sp * rl.max_frac, color="#d62728", lw=0.6, ls=":")
            if np.isfinite(rl.min_frac):
                ax.plot(t, sp * rl.min_frac, color="#d62728", lw=0.6, ls=":")
    for ev in events:
        colour = EVENT_MARKS.get(ev.get("kind", ""))
        if colour:
            ax.axvline(ev["t"], color=colour, lw=0.7, alpha=0.7)
    ax.set_xlabel("run time [s]")
    ax.set_ylabel("Pc [MPa]")
    ax.set_title("Chamber pressure vs command, redline band dotted, events as vertical lines")
    _legend(ax, fontsize=7, loc="upper right")
    out["pc_overview"] = _save(fig, d / "fig_pc_overview.png")

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for k, (s, e) in enumerate(burn_windows(table, stand)):
        sel = (t >= t[s] - 0.2) & (t <= min(t[e], t[s] + 3.0))
        ax.plot(t[sel] - t[s], _col(table, pcs[0])[sel], lw=0.8, label=f"burn {k + 1}")
    ax.set_xlabel("time from both main valves open (T-0 of the burn) [s]")
    ax.set_ylabel("Pc [MPa]")
    ax.set_title("Each ignition overlaid on its own T-0")
    _legend(ax, fontsize=8)
    out["ignitions"] = _save(fig, d / "fig_ignitions.png")

    fig, ax = plt.subplots(figsize=(11, 3.2))
    with np.errstate(invalid="ignore", divide="ignore"):
        err = 100 * (_col(table, pcs[0]) - sp) / sp
    ax.plot(t, err, lw=0.5)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylim(-10, 10)
    ax.set_xlabel("run time [s]")
    ax.set_ylabel("(Pc − command)/command [%]")
    ax.set_title("Throttle tracking error (closed loop engaged)")
    out["tracking"] = _save(fig, d / "fig_tracking.png")

    fig, ax = plt.subplots(figsize=(11, 3.6))
    for i, a in enumerate(a for a in stand.actuators if a.kind == "proportional"):
        ax.plot(t, _col(table, f"cmd.{a.name}"), lw=0.8, ls="--", color=f"C{i}", label=f"{a.name} command")
        if a.feedback and a.feedback in table.column_names:
            ax.plot(t, _col(table, a.feedback), lw=0.8, color=f"C{i}", label=f"{a.name} position")
    ax.set_xlabel("run time [s]")
    ax.set_ylabel("[%]")
    ax.set_title("Valve command vs position")
    _legend(ax, fontsize=7, ncol=3)
    out["valves"] = _save(fig, d / "fig_valves.png")

    fig, ax = plt.subplots(figsize=(11, 3.6))
    for c in stand.channels:
        if stand.plot_of(c) == Plot.PRESSURES:
            ax.plot(t, _col(table, c.name), lw=0.6, label=c.name)
    ax.set_xlabel("run time [s]")
    ax.set_ylabel("[MPa]")
    ox, fu = stand.with_role(ChannelRole.OX_FLOW), stand.with_role(ChannelRole.FUEL_FLOW)
    if ox and fu:
        ax2 = ax.twinx()
        mo, mf = _col(table, ox), _col(table, fu)
        with np.errstate(invalid="ignore", divide="ignore"):
            of = np.where(mf > 0.05 * np.nanmax(mf), mo / mf, np.nan)  # only while fuel flows
        ax2.plot(t, of, color="k", lw=0.6, label="O/F")
        ax2.set_ylim(0, 8)
        ax2.set_ylabel("O/F")
    ax.set_title("Feed and injector pressures; mixture ratio from the flowmeters")
    _legend(ax, fontsize=7, ncol=3, loc="upper left")
    out["feed"] = _save(fig, d / "fig_feed.png")

    wall = stand.with_role(ChannelRole.WALL_TEMP)
    if wall:
        fig, ax = plt.subplots(figsize=(11, 2.8))
        ax.plot(t, _col(table, wall), lw=0.8, color="#8c564b")
        ax.set_xlabel("run time [s]")
        ax.set_ylabel("[K]")
        ax.set_title("Chamber wall temperature")
        out["wall"] = _save(fig, d / "fig_wall.png")
    return out


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{path.stem}" src="data:image/png;base64,{data}">'


def _table(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in cols)
    body = ""
    for r in rows:
        body += "<tr>" + "".join(f"<td>{_fmt(r.get(k))}</td>" for k, _ in cols) + "</tr>"
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):  # unknown (NaN) is a dash, never 0
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


CSS = """body{font-family:sans-serif;margin:24px;color:#222} h1{margin-bottom:0} .sub{color:#666}
table{border-collapse:collapse;margin:8px 0 18px} td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}
th{background:#f0f0f0} .ok{color:#2e7d32;font-weight:bold} .bad{color:#c62828;font-weight:bold} img{max-width:100%;margin:6px 0}
code{font-size:12px}"""


def report(run_dir: str | Path) -> Path:
    """Write report.html (and the figures) into the run directory."""
    d = Path(run_dir)
    t0 = time.perf_counter()
    table = read_run(d).table
    stand = stand_of_run(d)
    summary = read_summary(d)
    events = read_events(d)
    burns = burn_metrics(table, stand, events)
    figs = figures(d)
    trips = [e for e in events if e.get("kind") in ("redline", "fault", "firmware_trip", "abort")]
    outcome = summary.get("outcome", "unknown")
    loop = summary.get("loop", {})
    seq, st = summary.get("sequence", {}), summary.get("stand", {})
    steps = [dict(burn=b["index"], **s) for b in burns for s in b.get("throttle_steps", [])]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Run report {html.escape(d.name)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>{html.escape(seq.get('name', d.name))}</h1>",
             f"<p class='sub'>{html.escape(str(d))} · stand {html.escape(st.get('name', stand.name))} · "
             f"{html.escape(summary.get('started_utc', ''))} · hil-stand {__version__}</p>",
             f"<p>Outcome: <span class='{'ok' if outcome == 'completed' else 'bad'}'>{html.escape(outcome)}</span>"
             + (f" — {html.escape(str(summary.get('abort_reason')))}" if summary.get("abort_reason") else "")
             + f"; final state {html.escape(str(summary.get('final_state', '—')))}.</p>"]
    abort_t = next((e["t"] for e in events if e.get("kind") in ("abort", "fault")), None)
    if abort_t is not None:
        parts.append(f"<p>Abort/fault at run time {abort_t:.3f} s.</p>")
    parts.append("<h2>Burns</h2>" + _table(burns, [
        ("index", "burn"), ("ignition_delay_s", "ignition delay [s]"), ("t90_s", "t90 [s]"),
        ("duration_s", "duration [s]"), ("pc_mean_mpa", "mean Pc [MPa]"), ("pc_peak_mpa", "peak Pc [MPa]"),
        ("of_mean", "mean O/F"), ("total_impulse_kns", "total impulse [kN·s]"),
        ("wall_temp_peak_k", "peak wall T [K]")]))
    parts.append("<h3>Starts</h3><p class='sub'>run time [s] the igniter was proven and ignition confirmed; "
                 "peak Pc and peak rate of rise (held over the stand's hard_start_samples) from the first main "
                 "valve opening to start_transient_s after confirmation (— unknown: no igniter channel, or "
                 "never confirmed).</p>" + _table(burns, [
                     ("index", "burn"), ("t_igniter_proven_s", "igniter proven [s]"),
                     ("t_ignition_s", "ignition confirmed [s]"), ("start_pc_peak_mpa", "start peak Pc [MPa]"),
                     ("start_rate_peak_mpa_s", "start peak rise [MPa/s]")]))
    parts.append("<h2>Throttle steps</h2><p class='sub'>settle: into ±2 % of the command (25 ms-averaged Pc) "
                 "and staying there, from the end of the setpoint slew; from the command in the next column.</p>"
                 + _table(steps, [("burn", "burn"), ("pc_cmd_mpa", "command [MPa]"), ("from_mpa", "from [MPa]"),
                                  ("ramp_s", "slew [s]"), ("settle_s", "settle [s]"),
                                  ("settle_from_command_s", "settle from command [s]"), ("overshoot_pct", "overshoot [%]"),
                                  ("tracking_mean_pct", "steady error mean [%]"),
                                  ("tracking_rms_pct", "steady error RMS [%]")]))
    parts.append("<h2>Redline trips, aborts and faults</h2>" + (_table(
        [{"t": e["t"], "kind": e["kind"], "what": e.get("redline") or e.get("reason") or e.get("trips"),
          "detail": e.get("detail", "")} for e in trips],
        [("t", "t [s]"), ("kind", "kind"), ("what", "what"), ("detail", "detail")]) if trips else "<p>none</p>"))
    loop = dict(loop)
    if "deadlines_due" in loop:  # runs recorded before the figure existed lack it
        loop["deadlines"] = (f"{100 * loop['deadlines_met_share']:.2f} % ({loop['deadlines_met']} of "
                             f"{loop['deadlines_due']})")
    parts.append("<h2>Loop health</h2>" + _table([loop], [
        ("deadlines", "deadlines met (a skipped one is a miss)"),
        ("target_hz", "target [Hz]"), ("achieved_hz", "achieved [Hz]"), ("lateness_p50_ms", "lateness p50 [ms]"),
        ("lateness_p99_ms", "p99 [ms]"), ("lateness_max_ms", "max [ms]"), ("overruns", "overruns"),
        ("failed_cycles", "failed cycles"), ("cycles", "cycles")]))
    parts.append("<h2>Inputs</h2>" + _table([
        {"what": "sequence", "path": seq.get("path"), "sha256": seq.get("sha256")},
        {"what": "stand", "path": st.get("path"), "sha256": st.get("sha256")}],
        [("what", ""), ("path", "file"), ("sha256", "SHA-256")]))
    parts.append("<h2>Figures</h2>" + "".join(_img(p) for p in figs.values()))
    parts.append(f"<p class='sub'>Generated in {time.perf_counter() - t0:.1f} s from data.arrow "
                 f"({table.num_rows} rows).</p></body></html>")
    out = d / "report.html"
    out.write_text("\n".join(parts), encoding="utf-8")
    return out


def compare(run_a: str | Path, run_b: str | Path, out: str | Path | None = None) -> Path:
    """Overlay two runs' chamber pressure (aligned at their first burn) and tabulate the
    per-burn differences (B − A)."""
    a, b = Path(run_a), Path(run_b)
    fig, ax = plt.subplots(figsize=(11, 4.2))
    rows: list[dict[str, Any]] = []
    metrics = {}
    for d, label in ((a, "A"), (b, "B")):
        table = read_run(d).table
        stand = stand_of_run(d)
        t = _col(table, "time")
        windows = burn_windows(table, stand)
        t_ref = t[windows[0][0]] if windows else 0.0
        ax.plot(t - t_ref, _col(table, stand.limits.pc_channel), lw=0.6, label=f"{label}: {d.name}")
        metrics[label] = burn_metrics(table, stand, read_events(d))
    ax.set_xlabel("time from the first burn's T-0 [s]")
    ax.set_ylabel("Pc [MPa]")
    _legend(ax, fontsize=8)
    ax.set_title("Chamber pressure, run A vs run B")
    target = Path(out) if out else b / "compare.html"
    fig_path = _save(fig, target.with_suffix(".png"))
    keys = ["ignition_delay_s", "t90_s", "duration_s", "pc_mean_mpa", "pc_peak_mpa", "of_mean", "total_impulse_kns",
            "wall_temp_peak_k", "start_pc_peak_mpa", "start_rate_peak_mpa_s"]
    for ba, bb in zip(metrics["A"], metrics["B"]):
        for k in keys:
            va, vb = ba.get(k), bb.get(k)
            rows.append({"burn": ba["index"], "metric": k, "A": va, "B": vb,
                         "B − A": (vb - va) if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None})
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>Compare</title><style>{CSS}</style></head><body>"
            f"<h1>Run comparison</h1><p class='sub'>A = {html.escape(str(a))}<br>B = {html.escape(str(b))}</p>"
            f"<p>Burns: A {len(metrics['A'])}, B {len(metrics['B'])}.</p>"
            + _table(rows, [("burn", "burn"), ("metric", "metric"), ("A", "A"), ("B", "B"), ("B − A", "B − A")])
            + _img(fig_path) + "</body></html>")
    target.write_text(page, encoding="utf-8")
    return target


def export_tdms(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """NI TDMS (group 'run', one channel per column, units as properties) via npTDMS."""
    from nptdms import ChannelObject, GroupObject, RootObject, TdmsWriter

    d = Path(run_dir)
    table = read_run(d).table
    stand = stand_of_run(d)
    units = {c.name: c.units for c in stand.channels}
    target = Path(out) if out else d / "data.tdms"
    t = _col(table, "time")
    dt = float(np.median(np.diff(t))) if len(t) > 2 else 0.001
    with TdmsWriter(str(target)) as w:
        objs = [RootObject(properties={"name": d.name, "producer": f"hil-stand {__version__}"}), GroupObject("run")]
        for name in table.column_names:
            if name == "state":
                continue
            props = {"unit_string": units.get(name, "s" if name == "time" else ""), "wf_increment": dt}
            objs.append(ChannelObject("run", name, _col(table, name), properties=props))
        w.write_segment(objs)
    return target
