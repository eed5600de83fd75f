"""``hil campaign compare A B``: two campaigns' results side by side — e.g. the same dispersed
engines and faults started directly (A) and staged (B). Per case (the nominal case and each
fault in each phase): runs, outcomes, how many did not end as expected, the plant's peak Pc
(median, 95th percentile, max) and how many runs went above the firmware's overpressure limit.

It reads the two result directories only (their campaign.json and Parquet rows): cheap, so the
table in docs/campaigns.md can be regenerated from any two campaign runs. The table is printed
as Markdown; ``--out`` also writes an HTML page with both peak distributions overlaid.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from hil.campaign.execute import read_results
from hil.errors import ConfigError


def load_rows(out: Path) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """A campaign result directory's name, run rows and burn rows."""
    meta = out / "campaign.json"
    if not meta.is_file():
        raise ConfigError("not a campaign result directory (no campaign.json)", path=str(out))
    name = str(json.loads(meta.read_text())["name"])
    rows = read_results(out / "runs", name).to_pylist()
    burns = read_results(out / "burns", name).to_pylist() if (out / "burns").is_dir() else []
    return name, rows, burns


def _limit(burns: list[dict[str, Any]]) -> float:
    """The overpressure limit the rows were judged by (NaN: rows written before it was recorded)."""
    vals = [float(v) for b in burns if (v := b.get("limit.overpressure_mpa")) is not None]
    return min(vals) if vals else math.nan


def case_stats(rows: list[dict[str, Any]], limit: float) -> dict[str, dict[str, Any]]:
    """Per case label: runs, outcome counts, unexpected, peak Pc percentiles, runs above the limit."""
    out: dict[str, dict[str, Any]] = {}
    for case in dict.fromkeys(r["case"] for r in rows):
        mine = [r for r in rows if r["case"] == case]
        peaks = np.array([r["peak_pc_mpa"] for r in mine], dtype=float)
        peaks = peaks[np.isfinite(peaks)]
        counts: dict[str, int] = {}
        for r in mine:
            counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        out[case] = {"runs": len(mine), "outcomes": dict(sorted(counts.items())),
                     "unexpected": sum(not r["as_expected"] for r in mine),
                     "peak_p50": float(np.median(peaks)) if peaks.size else math.nan,
                     "peak_p95": float(np.percentile(peaks, 95)) if peaks.size else math.nan,
                     "peak_max": float(peaks.max()) if peaks.size else math.nan,
                     "above_limit": int((peaks > limit).sum()) if math.isfinite(limit) else sum(
                         bool(r["hard_start"]) for r in mine)}
    return out


def _num(x: float) -> str:
    return f"{x:.2f}" if math.isfinite(x) else "—"


def _cell(s: dict[str, Any] | None) -> list[str]:
    if s is None:
        return ["—"] * 3
    outcomes = ", ".join(f"{n} {o}" for o, n in s["outcomes"].items())
    if s["unexpected"]:
        outcomes += f" ({s['unexpected']} unexpected)"
    return [f"{s['runs']}: {outcomes}", f"{_num(s['peak_p50'])} / {_num(s['peak_p95'])} / {_num(s['peak_max'])}",
            str(s["above_limit"])]


def markdown(a: Path, b: Path, labels: tuple[str, str]) -> tuple[str, dict[str, Any]]:
    """The comparison table (Markdown) and the figures behind it."""
    (na, ra, ba), (nb, rb, bb) = load_rows(a), load_rows(b)
    la, lb = _limit(ba), _limit(bb)
    sa, sb = case_stats(ra, la), case_stats(rb, lb)
    limit = la if math.isfinite(la) else lb
    head = (f"| case | {labels[0]}: runs, outcomes | {labels[0]}: plant peak Pc median / 95 % / max [MPa] | "
            f"{labels[0]}: above {_num(limit)} MPa | {labels[1]}: runs, outcomes | {labels[1]}: plant peak Pc "
            f"median / 95 % / max [MPa] | {labels[1]}: above {_num(limit)} MPa |")
    lines = [head, "|" + "---|" * 7]
    for case in dict.fromkeys([*sa, *sb]):
        lines.append("| " + " | ".join([case, *_cell(sa.get(case)), *_cell(sb.get(case))]) + " |")
    total = [f"{len(r)} runs, {sum(not x['as_expected'] for x in r)} unexpected" for r in (ra, rb)]
    lines.append(f"\n{labels[0]} = `{na}` ({total[0]}); {labels[1]} = `{nb}` ({total[1]}).")
    return "\n".join(lines) + "\n", {"a": sa, "b": sb, "limit": limit, "rows": (ra, rb)}


def write_html(target: Path, table_md: str, data: dict[str, Any], labels: tuple[str, str]) -> Path:
    """The table and the two distributions of the plant's peak Pc, overlaid, with the limit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hil.campaign.report import _img
    from hil.record.report import CSS

    fig, ax = plt.subplots(figsize=(9, 3.8))
    for rows, label, colour in zip(data["rows"], labels, ("#d62728", "#2e7d32")):
        peaks = np.array([r["peak_pc_mpa"] for r in rows], dtype=float)
        ax.hist(peaks[np.isfinite(peaks)], bins=40, alpha=0.55, color=colour, label=f"{label} ({len(rows)} runs)")
    if math.isfinite(data["limit"]):
        ax.axvline(data["limit"], color="#000", lw=1.5, ls="--", label=f"overpressure limit {data['limit']:g} MPa")
    ax.set_xlabel("plant peak Pc of the run [MPa]")
    ax.set_ylabel("runs")
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    rows_html = ""
    for ln in table_md.splitlines()[2:]:
        if ln.startswith("|"):
            rows_html += "<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in ln.strip("|").split("|")) + "</tr>"
    head = "".join(f"<th>{html.escape(c.strip())}</th>" for c in table_md.splitlines()[0].strip("|").split("|"))
    target.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>Campaign comparison</title>"
                      f"<style>{CSS}</style></head><body><h1>{html.escape(labels[0])} vs {html.escape(labels[1])}</h1>"
                      f"<table><tr>{head}</tr>{rows_html}</table>{_img(buf.getvalue(), 'peak Pc')}</body></html>",
                      encoding="utf-8")
    return target


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="hil campaign compare",
                                 description="two campaigns' results side by side (outcomes and plant peak Pc per case)")
    ap.add_argument("a", help="the first campaign's result directory (its --out)")
    ap.add_argument("b", help="the second campaign's result directory")
    ap.add_argument("--labels", nargs=2, default=("A", "B"), metavar=("A", "B"), help="what to call them")
    ap.add_argument("--out", help="also write this HTML page (the table and the peak distributions)")
    args = ap.parse_args(argv)
    labels = (args.labels[0], args.labels[1])
    try:
        table, data = markdown(Path(args.a), Path(args.b), labels)
    except ConfigError as exc:
        print(f"hil campaign compare: error: {exc}", file=sys.stderr)
        return 1
    print(table, end="")
    if args.out:
        print(f"hil campaign compare: {write_html(Path(args.out), table, data, labels)}", file=sys.stderr)
    return 0
