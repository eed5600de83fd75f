"""``hil campaign CAMPAIGN.toml [--out DIR] [--workers N | --scheduler ADDRESS | --local-cluster N] [--check]``,
and ``hil campaign compare A B`` (hil/campaign/compare.py).

Writes under ``--out`` (default ``runs/campaigns/<name>``): ``runs/`` and ``burns/`` (Parquet
datasets, partitioned by campaign and sequence), ``kept/`` (the run directories of the runs that
did not end as expected, or of all with ``keep = "all"``), ``campaign.json`` (what ran, on
what, how long) and ``report.html``. Exit code 0 when every run ended as expected, 2 when some
did not (the report says which), 1 for a campaign file that does not check.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from hil.campaign.execute import Progress, local_cluster, run_dask, run_local, write_results
from hil.campaign.runs import phase_times, plan
from hil.campaign.spec import Campaign, as_dict, describe, load_campaign
from hil.errors import HilError
from hil.files import write_json_atomic


def run_campaign(c: Campaign, out: Path, workers: int | None = None, scheduler: object = None,
                 progress: bool = True) -> dict[str, object]:
    """Plan, run (pool or Dask), write the datasets, campaign.json and the report; the summary."""
    t0 = time.monotonic()
    needs_phases = any(k.fault for k in c.cases)
    times = {(str(q), str(s)): phase_times(str(q), str(s), c.burn) if needs_phases else {}
             for q in c.sequences for s in c.stands}
    specs = plan(c, times, str(out / "kept"))
    bar = Progress(len(specs), sys.stderr if progress else None)
    t_runs = time.monotonic()
    if scheduler is not None:
        results = run_dask(specs, scheduler, bar)
        engine = f"dask ({scheduler if isinstance(scheduler, str) else 'client'})"
    else:
        n = workers or os.cpu_count() or 1
        results = run_local(specs, n, bar)
        engine = f"process pool ({n} workers)"
    runs_s = time.monotonic() - t_runs
    write_results(results, out)
    rows = [r for r, _ in results]
    summary = {**as_dict(c), "engine": engine, "phase_times": {f"{q} on {s}": v for (q, s), v in times.items()},
               "runs_s": round(runs_s, 2), "runs_per_s": round(len(rows) / runs_s, 3) if runs_s > 0 else None,
               "wall_s": round(time.monotonic() - t0, 2), "unexpected": sum(not r["as_expected"] for r in rows),
               "out": str(out)}
    write_json_atomic(out / "campaign.json", summary)
    from hil.campaign.report import campaign_report

    campaign_report(out, c.name)
    return summary


def main(argv: list[str] | None = None) -> int:
    if argv is not None and argv[:1] == ["compare"]:
        from hil.campaign.compare import main as compare_main

        return compare_main(argv[1:])
    ap = argparse.ArgumentParser(prog="hil campaign", description="run a campaign of simulated runs (lockstep): "
                                 "sequences × faults × dispersed engines")
    ap.add_argument("campaign", help="campaign file (docs/campaigns.md)")
    ap.add_argument("--out", help="where the results go (default runs/campaigns/<name>)")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="processes on this machine (default: its cores)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="a Dask distributed scheduler (tcp://host:8786)")
    where.add_argument("--local-cluster", type=int, metavar="N",
                       help="start a Dask LocalCluster of N worker processes here and run through it (the --scheduler "
                            "path without a cluster)")
    ap.add_argument("--check", action="store_true", help="check the campaign file and say what it would run")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    try:
        c = load_campaign(args.campaign)
    except HilError as exc:
        print(f"hil campaign: error: {exc}", file=sys.stderr)
        return 1
    print(describe(c))
    if args.check:
        return 0
    out = Path(args.out) if args.out else Path("runs") / "campaigns" / c.name
    out.mkdir(parents=True, exist_ok=True)
    try:
        if args.local_cluster:
            with local_cluster(args.local_cluster) as cluster:
                s = run_campaign(c, out, scheduler=cluster.scheduler_address, progress=not args.quiet)
            s["engine"] = f"dask LocalCluster ({args.local_cluster} workers)"
        else:
            s = run_campaign(c, out, args.workers, args.scheduler, progress=not args.quiet)
    except KeyboardInterrupt:
        print("\nhil campaign: interrupted; runs not started were cancelled", file=sys.stderr)
        return 130
    print(f"hil campaign: {s['total_runs']} runs in {s['runs_s']} s ({s['runs_per_s']} runs/s, {s['engine']}); "
          f"{s['unexpected']} did not end as expected; results in {out} (report.html)")
    return 0 if not s["unexpected"] else 2
