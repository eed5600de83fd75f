"""The campaign report: ``report.html``, self-contained like the run report, from the Parquet
results alone — outcomes by fault × phase, each redline's margin over the dispersed engines
(histogram, the redline drawn at zero), the worst runs with the command that replays each, and
which dispersed parameters the failures (or, with none, the tightest margins) go with.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from hil.campaign.envelope import start_envelope
from hil.campaign.execute import read_results
from hil.record.report import CSS, _fmt

WORST = 10


def campaign_report(out: Path, campaign: str) -> Path:
    """Write ``out/report.html`` for the campaign's results under ``out``."""
    rows = read_results(out / "runs", campaign).to_pylist()
    burns = read_results(out / "burns", campaign).to_pylist() if (out / "burns").is_dir() else []
    meta = json.loads((out / "campaign.json").read_text()) if (out / "campaign.json").is_file() else {}
    margins = sorted({k for r in rows for k in r if k.startswith("margin.")})
    disps = sorted({k for r in rows for k in r if k.startswith("disp.")})
    bad = [r for r in rows if not r["as_expected"]]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Campaign {html.escape(campaign)}</title>"
             f"<style>{CSS}</style></head><body><h1>Campaign {html.escape(campaign)}</h1>",
             f"<p class='sub'>{len(rows)} runs, {meta.get('engine', '')}, {meta.get('runs_per_s', '—')} runs/s; "
             f"dispersed: {', '.join(d[5:] for d in disps) or 'nothing'}. "
             + (f"<span class='bad'>{len(bad)} did not end as expected.</span>" if bad
                else "<span class='ok'>Every run ended as expected.</span>") + "</p>",
             "<p class='sub'>As expected: a nominal run completes; a run with a fault ends safe (propellant shut in "
             "the plant, no flame) without a hard start beyond the firmware's overpressure limit.</p>",
             "<h2>Outcomes by fault and phase</h2>", _outcomes(rows)]
    if margins:
        parts += ["<h2>Margins to the redlines</h2><p class='sub'>Each run's closest approach to each redline while "
                  "it was watched, in the channel's units (the redline is at 0; below it, tripped).</p>",
                  _img(_histograms(rows, margins))]
    parts += ["<h2>Worst runs</h2>", _worst(rows, margins), "<h2>What the outcome goes with</h2>",
              _correlations(rows, disps, margins)]
    if burns:
        envelope = start_envelope(rows, burns)
        if envelope is not None:
            parts += ["<h2>Start envelope</h2><p class='sub'>Each burn's peak chamber pressure in its start transient "
                      "(the recorded Pc, from the first main valve opening until 1 s after ignition was confirmed, or "
                      "0.3 s past the burn's end when it never was) against the ignition delay its engine had (its "
                      "own, plus a late_ignition fault's while on), coloured by the run's outcome; a cross marks a run "
                      "that did not end as expected. Lines: the firmware's overpressure limit, its hard-start trip, "
                      "the controller's hard-start cut. Runs whose igniter could not light have no start.</p>",
                      _img(envelope, "start envelope")]
        parts += ["<h2>Burns</h2>", _burn_stats(burns)]
    parts.append("</body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _outcomes(rows: list[dict[str, Any]]) -> str:
    faults = list(dict.fromkeys(r["fault"] or "nominal" for r in rows))
    phases = list(dict.fromkeys(r["phase"] or "—" for r in rows))
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault((r["fault"] or "nominal", r["phase"] or "—"), []).append(r)
    head = "".join(f"<th>{html.escape(p)}</th>" for p in phases)
    body = ""
    for f in faults:
        body += f"<tr><th>{html.escape(f)}</th>"
        for p in phases:
            rs = cells.get((f, p), [])
            if not rs:
                body += "<td></td>"
                continue
            counts: dict[str, int] = {}
            for r in rs:
                counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
            n_bad = sum(not r["as_expected"] for r in rs)
            text = ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
            body += f"<td class='{'bad' if n_bad else 'ok'}'>{text}" + (f"; {n_bad} unexpected" if n_bad else "") + "</td>"
        body += "</tr>"
    return f"<table><tr><th>fault</th>{head}</tr>{body}</table>"


def _histograms(rows: list[dict[str, Any]], margins: list[str]) -> bytes:
    n = len(margins)
    cols = min(3, n)
    fig, axes = plt.subplots(-(-n // cols), cols, figsize=(4.2 * cols, 2.8 * -(-n // cols)), squeeze=False)
    for ax, m in zip(axes.flat, margins):
        v = np.array([r[m] for r in rows if r.get(m) is not None], dtype=float)
        ax.hist(v, bins=30, color="#1f77b4")
        ax.axvline(0.0, color="#d62728", lw=2, label="redline")
        ax.set_title(m[7:], fontsize=10)
        ax.set_xlabel("margin at closest approach")
        if len(v):
            ax.set_xlim(min(float(v.min()), 0.0) - 0.05 * float(np.ptp(v) or 1.0), float(v.max()) * 1.05 + 1e-9)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _img(png: bytes, alt: str = "margins") -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _tightest(r: dict[str, Any], margins: list[str]) -> tuple[float, str]:
    vals = [(r[m], m[7:]) for m in margins if r.get(m) is not None]
    return min(vals) if vals else (float("inf"), "")


def _worst(rows: list[dict[str, Any]], margins: list[str]) -> str:
    ranked = sorted(rows, key=lambda r: (r["as_expected"], _tightest(r, margins)[0]))[:WORST]
    body = ""
    for r in ranked:
        m, name = _tightest(r, margins)
        body += (f"<tr><td>{r['run']}</td><td>{html.escape(r['case'])}</td>"
                 f"<td class='{'ok' if r['as_expected'] else 'bad'}'>{html.escape(r['outcome'])}</td>"
                 f"<td style='text-align:left'>{html.escape(r['abort_reason'][:90])}</td><td>{_fmt(r['peak_pc_mpa'])}</td>"
                 f"<td>{html.escape(name)} {_fmt(m if np.isfinite(m) else None)}</td>"
                 f"<td style='text-align:left'><code>{html.escape(r['replay'])}</code>"
                 + (f"<br>kept: <code>{html.escape(r['run_dir'])}</code>" if r.get("run_dir") else "") + "</td></tr>")
    return ("<table><tr><th>run</th><th>case</th><th>outcome</th><th>reason</th><th>peak Pc [MPa]</th>"
            f"<th>tightest margin</th><th>replay</th></tr>{body}</table>")


def _correlations(rows: list[dict[str, Any]], disps: list[str], margins: list[str]) -> str:
    if not disps:
        return "<p class='sub'>Nothing was dispersed.</p>"
    bad = np.array([not r["as_expected"] for r in rows], dtype=float)
    if bad.any() and not bad.all():
        target, what = bad, "not ending as expected (1) vs as expected (0)"
    else:
        target = np.array([_tightest(r, margins)[0] for r in rows], dtype=float)
        what = "the tightest redline margin (no run failed, or all did)"
    body = ""
    stats = []
    for d in disps:
        x = np.array([r.get(d, np.nan) for r in rows], dtype=float)
        ok = np.isfinite(x) & np.isfinite(target)
        corr = float(np.corrcoef(x[ok], target[ok])[0, 1]) if ok.sum() > 2 and np.std(x[ok]) > 0 and np.std(target[ok]) > 0 \
            else float("nan")
        stats.append((abs(corr) if np.isfinite(corr) else -1.0, d[5:], corr))
    for _, name, corr in sorted(stats, reverse=True):
        body += f"<tr><td>{html.escape(name)}</td><td>{_fmt(corr if np.isfinite(corr) else None)}</td></tr>"
    return (f"<p class='sub'>Pearson correlation of each dispersed parameter with {what}, strongest first.</p>"
            f"<table><tr><th>parameter</th><th>r</th></tr>{body}</table>")


def _burn_stats(burns: list[dict[str, Any]]) -> str:
    keys = ["ignition_delay_s", "t90_s", "pc_mean_mpa", "pc_peak_mpa", "of_mean", "settle_s_max", "overshoot_pct_max"]
    body = ""
    for k in keys:
        v = np.array([b[k] for b in burns if b.get(k) is not None], dtype=float)
        if not len(v):
            continue
        p = np.percentile(v, [0, 5, 50, 95, 100])
        body += f"<tr><td>{k}</td><td>{len(v)}</td>" + "".join(f"<td>{x:.4g}</td>" for x in p) + "</tr>"
    return ("<table><tr><th>per burn</th><th>n</th><th>min</th><th>5 %</th><th>median</th><th>95 %</th><th>max</th></tr>"
            f"{body}</table>")
