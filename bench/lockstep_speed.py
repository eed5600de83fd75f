"""How fast a whole lockstep run goes, whole process, beside a calibration figure measured in
the same sitting (issue 26: the target is ≥ 20× real time for the TQ-12 three-burn).

Each round runs ``hil run SEQUENCE --sim lockstep`` as a child process (imports, stand load,
the run, the recording and the summary: what a campaign run or a test pays) and, right before
it, a fixed pure-Python loop (the calibration). On a shared machine absolute figures drift;
compare the ratio ``x_realtime / calibration`` between trees measured back to back.

    python -m hil.bench.lockstep_speed [--trees DIR[,DIR...]] [--rounds N] [--json PATH]

``--trees`` runs the same measurement against other checkouts (e.g. a ``git worktree`` of
the branch before a change): their code runs with PYTHONPATH set to them, rounds alternate
between trees so drift hits every tree alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hil.bench.common import CAL_N, calibration, write_json

HERE = Path(__file__).resolve().parent.parent  # the checkout this file runs from (bench/..)


def one_run(tree: Path, sequence: str, stand: str, seed: int, sim: str = "lockstep") -> dict[str, object]:
    """One whole-process run from ``tree`` (lockstep unless ``sim`` says otherwise): its wall
    time, stand time and the loop's own figures from summary.json."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r"
        env = {**os.environ, "PYTHONPATH": str(tree)}
        cmd = [sys.executable, "-m", "hil.cli", "run", sequence, "--stand", stand, "--sim", sim,
               "--seed", str(seed), "--quiet", "--out", str(out)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode not in (0, 2):
            raise RuntimeError(f"{' '.join(cmd)} in {tree}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
        summary = json.loads((out / "summary.json").read_text())
    stand_s = summary["samples"] / summary["loop"]["target_hz"]
    return {"wall_s": wall, "stand_s": stand_s, "x_realtime": stand_s / wall, "outcome": summary["outcome"],
            "work_p50_us": summary["loop"].get("work_p50_us"), "work_p99_us": summary["loop"].get("work_p99_us"),
            "deadlines_met_share": summary["loop"].get("deadlines_met_share"),
            "data_sha256": summary.get("data_sha256")}


def measure(trees: list[Path], rounds: int, sequence: str, stand: str, seed: int) -> dict[str, object]:
    """Rounds alternate over the trees; each run has its calibration measured just before it."""
    rows: dict[str, list[dict[str, object]]] = {str(t): [] for t in trees}
    for r in range(rounds):
        for tree in trees:
            cal = calibration()
            run = one_run(tree, sequence, stand, seed)
            row = {"round": r, "calibration_mops": cal, **run, "x_per_cal": float(run["x_realtime"]) / cal}  # type: ignore[arg-type]
            rows[str(tree)].append(row)
            print(f"  {tree}: round {r}: {run['x_realtime']:.2f}x real time ({run['stand_s']:.1f} s in "
                  f"{run['wall_s']:.2f} s), controller work p50 {run['work_p50_us']:.1f} us, calibration "
                  f"{cal:.2f} Mops/s, ratio {row['x_per_cal']:.3f}", flush=True)
    summary = {}
    for name, rs in rows.items():
        summary[name] = {k: statistics.median(float(x[k]) for x in rs)  # type: ignore[arg-type]
                         for k in ("x_realtime", "calibration_mops", "x_per_cal", "work_p50_us", "wall_s")}
    return {"sequence": sequence, "stand": stand, "seed": seed, "rounds": rounds, "calibration_loop_n": CAL_N,
            "runs": rows, "medians": summary}


def main(argv: list[str] | None = None) -> dict[str, object]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trees", help="comma-separated checkouts to measure (default: this one)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sequence", default="tq12_three_burn")
    ap.add_argument("--stand", default="sim_tq12")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="where to write the JSON (default bench/results/lockstep_speed.json)")
    args = ap.parse_args(argv)
    trees = [Path(t).resolve() for t in args.trees.split(",")] if args.trees else [HERE]
    print(f"lockstep {args.sequence} on {args.stand}, whole process, {args.rounds} round(s); target >= 20x real time")
    res = measure(trees, args.rounds, args.sequence, args.stand, args.seed)
    print(f"{'tree':<40}{'x real time':>12}{'calibration':>13}{'x / cal':>9}{'work p50 us':>13}")
    for tree, m in res["medians"].items():  # type: ignore[attr-defined]
        print(f"{tree:<40}{m['x_realtime']:>12.2f}{m['calibration_mops']:>13.2f}{m['x_per_cal']:>9.3f}"
              f"{m['work_p50_us']:>13.1f}")
    print(f"wrote {write_json('lockstep_speed', res, args.json)}")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
