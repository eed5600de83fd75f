"""Campaign throughput: runs per second (and per core) of a campaign on a process pool of 1 and 2
workers and on a Dask LocalCluster of 2 workers, the same runs each time, in one session.

    python -m hil.bench.campaign_bench [--campaign FILE] [--runs 16] [--rounds 2] [--json PATH]

The runs are ``--runs`` of the campaign's own (default: the shipped 200-run three-burn campaign),
spread evenly over its plan so every case is in. Figures: runs/s for each engine (the runs only:
planning, the nominal run for the phase times and the cluster's start are timed apart), the Dask
overhead against the pool at the same worker count (target ≤ 10 %), and how throughput grows
from 1 to 2 workers on this machine (2 shared cores: at most 2x, less when something else runs).
Order alternates (pool, Dask, pool, ...) over ``--rounds`` so drift on a noisy machine falls on
both; medians reported. Each run's own CPU time (its worker process's, whatever thread spent it)
is reported beside: what an engine adds to a run shows there with far less noise than in wall
time on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from hil.bench.common import write_json

CAMPAIGNS = Path(__file__).resolve().parents[1] / "configs" / "campaigns"
CAMPAIGN = CAMPAIGNS / "tq12_three_burn_dispersed.toml"


def timed_run(spec: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A campaign run with the CPU time its worker process spent on it (``_cpu_s``)."""
    from hil.campaign.runs import run_one

    c0 = time.process_time()
    row, burns = run_one(spec)
    return {**row, "_cpu_s": time.process_time() - c0}, burns


def sample(specs: list[Any], n: int) -> list[Any]:
    """``n`` runs spread evenly over the plan (every case of a plan ordered by case)."""
    if n >= len(specs):
        return specs
    return [specs[int(i * len(specs) / n)] for i in range(n)]


def measure(runs: int = 16, rounds: int = 2, campaign: Path = CAMPAIGN) -> dict[str, Any]:
    import dataclasses

    from hil.campaign.execute import local_cluster, run_dask, run_local
    from hil.campaign.runs import phase_times, plan
    from hil.campaign.spec import load_campaign

    c = load_campaign(campaign)
    if c.total_runs < runs:
        c = dataclasses.replace(c, runs_per_case=-(-runs // len(c.cases)))
    t0 = time.monotonic()
    times = {(str(q), str(s)): phase_times(str(q), str(s), c.burn) for q in c.sequences for s in c.stands}
    specs = sample(plan(c, times, None), runs)
    t_plan = time.monotonic() - t0
    rates: dict[str, list[float]] = {"pool_1": [], "pool_2": [], "dask_2": []}
    cpu: dict[str, list[float]] = {k: [] for k in rates}
    t0 = time.monotonic()
    with local_cluster(2) as cluster:
        t_cluster = time.monotonic() - t0
        run_dask(specs[:2], cluster.scheduler_address)  # workers import hil once, outside the timing
        for _ in range(rounds):
            for name, go in (("pool_1", lambda: run_local(specs, 1, fn=timed_run)),
                             ("pool_2", lambda: run_local(specs, 2, fn=timed_run)),
                             ("dask_2", lambda: run_dask(specs, cluster.scheduler_address, fn=timed_run))):
                t = time.monotonic()
                results = go()
                rates[name].append(len(specs) / (time.monotonic() - t))
                cpu[name].append(sum(row["_cpu_s"] for row, _ in results))
    med = {k: statistics.median(v) for k, v in rates.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    return {"campaign": str(campaign), "runs": len(specs), "rounds": rounds, "runs_per_s": med,
            "runs_per_s_per_worker": {"pool_1": med["pool_1"], "pool_2": med["pool_2"] / 2, "dask_2": med["dask_2"] / 2},
            "all_rates": rates, "dask_overhead": 1.0 - med["dask_2"] / med["pool_2"],
            "cpu_s_of_the_runs": cpu_med, "all_cpu_s": cpu,
            "dask_cpu_overhead": cpu_med["dask_2"] / cpu_med["pool_2"] - 1.0,
            "scaling_1_to_2": med["pool_2"] / med["pool_1"], "plan_s": round(t_plan, 2),
            "cluster_start_s": round(t_cluster, 2)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--campaign", type=Path, default=CAMPAIGN, help="a campaign file (default: the shipped one)")
    ap.add_argument("--runs", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    r = measure(args.runs, args.rounds, args.campaign)
    m = r["runs_per_s"]
    print(f"{r['runs']} runs of {Path(r['campaign']).name}, median of {r['rounds']} rounds each:")
    print(f"  process pool, 1 worker : {m['pool_1']:.2f} runs/s")
    print(f"  process pool, 2 workers: {m['pool_2']:.2f} runs/s ({m['pool_2'] / 2:.2f} per worker)")
    print(f"  Dask LocalCluster, 2   : {m['dask_2']:.2f} runs/s ({m['dask_2'] / 2:.2f} per worker)")
    over = r["dask_overhead"]
    print(f"  Dask overhead vs the pool at 2 workers: {100 * over:+.1f} % (target ≤ 10 %: "
          f"{'met' if over <= 0.10 else 'MISSED'})")
    cm = r["cpu_s_of_the_runs"]
    print(f"  CPU of the runs themselves: pool {cm['pool_2']:.1f} s, Dask {cm['dask_2']:.1f} s "
          f"({100 * r['dask_cpu_overhead']:+.1f} %), one pool worker {cm['pool_1']:.1f} s")
    print(f"  1 → 2 workers: {r['scaling_1_to_2']:.2f}x; cluster start {r['cluster_start_s']} s, plan {r['plan_s']} s")
    print(f"wrote {write_json('campaign_bench', r, args.json)}")
    return r


if __name__ == "__main__":
    main(sys.argv[1:])
