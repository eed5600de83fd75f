"""The realistic stand under load: ``hil run`` over the real links (``--sim tcp``: two Modbus TCP
servers and an RS-485 line on a pty pair) beside CPU-bound processes, N times, each run's
outcome and reason printed and written as JSON.

    python -m hil.bench.load_runs [--runs 10] [--hogs 1] [--rt-priority 50]
                                  [--sequence tq12_three_burn] [--stand sim_tq12_devices] [--json PATH] [--out DIR]

A hog is ``python3 -c 'while ...: pass'`` that stops by itself after ``--hog-s`` seconds (so a
killed benchmark never leaves one spinning) and is stopped by its PID when the runs are done.
Each run is its own ``python -m hil.cli run`` process, as an operator starts it. The figures mean
little without the machine: the JSON carries it, and whatever else the machine was doing (other
sessions) is not controlled here — say so when quoting them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hil.bench.common import write_json

HOG = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end:\n    pass\n"


def start_hogs(n: int, seconds: float) -> list[subprocess.Popen[bytes]]:
    """``n`` CPU-bound processes at normal priority, each ending by itself after ``seconds``."""
    return [subprocess.Popen([sys.executable, "-c", HOG.format(s=seconds)]) for _ in range(n)]


def stop_hogs(hogs: list[subprocess.Popen[bytes]]) -> None:
    """Stop the hogs this benchmark started, by PID."""
    for h in hogs:
        if h.poll() is None:
            h.terminate()
    for h in hogs:
        try:
            h.wait(timeout=5)
        except subprocess.TimeoutExpired:
            h.kill()
            h.wait(timeout=5)


def one_run(sequence: str, stand: str, out: Path, rt_priority: int | None, timeout_s: float) -> dict[str, Any]:
    """One ``hil run`` in its own process; its exit code, outcome, reason and loop figures."""
    cmd = [sys.executable, "-m", "hil.cli", "run", sequence, "--stand", stand, "--sim", "tcp", "--out", str(out)]
    if rt_priority:
        cmd += ["--rt-priority", str(rt_priority)]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        code, err = proc.returncode, proc.stderr.strip()[-400:]
    except subprocess.TimeoutExpired:
        code, err = -1, f"no result within {timeout_s:g} s"
    row: dict[str, Any] = {"exit_code": code, "wall_s": round(time.monotonic() - t0, 2)}
    summary_path = out / "summary.json"
    if not summary_path.exists():
        return {**row, "outcome": "no summary", "reason": err}
    s = json.loads(summary_path.read_text())
    loop = s.get("loop", {})
    return {**row, "outcome": s["outcome"], "reason": s.get("abort_reason"), "burns": len(s.get("burns", [])),
            "achieved_hz": loop.get("achieved_hz"), "lateness_p99_ms": loop.get("lateness_p99_ms"),
            "overruns": loop.get("overruns"), "simulator": s.get("simulator"),
            "devices": {n: {k: v for k, v in d.items() if k in ("transactions", "timeouts", "retries", "errors")}
                        for n, d in s.get("devices", {}).items()}}


def load_runs(runs: int, hogs: int, rt_priority: int | None = None, sequence: str = "tq12_three_burn",
              stand: str = "sim_tq12_devices", hog_s: float = 300.0, out_dir: Path | None = None,
              timeout_s: float = 180.0, echo: bool = True) -> dict[str, Any]:
    """``runs`` runs beside ``hogs`` CPU-bound processes; the hogs are stopped on every exit path."""
    rows = []
    started = start_hogs(hogs, hog_s)
    try:
        with tempfile.TemporaryDirectory(prefix="hil-load-") as tmp:
            base = out_dir or Path(tmp)
            for k in range(runs):
                if any(h.poll() is not None for h in started):  # a hog ran out: start a fresh one
                    stop_hogs(started)
                    started = start_hogs(hogs, hog_s)
                row = one_run(sequence, stand, base / f"run{k:02d}", rt_priority, timeout_s)
                rows.append(row)
                if echo:
                    sim = row.get("simulator") or {}
                    print(f"run {k + 1}/{runs}: {row['outcome']} (exit {row['exit_code']}, {row['wall_s']} s, "
                          f"{row.get('achieved_hz')} Hz, p99 {row.get('lateness_p99_ms')} ms, simulator answers up to "
                          f"{sim.get('answer_late_max_ms', '?')} ms late)"
                          + (f": {row['reason']}" if row.get("reason") else ""), flush=True)
    finally:
        stop_hogs(started)
    done = sum(r["outcome"] == "completed" for r in rows)
    return {"runs": runs, "hogs": hogs, "rt_priority": rt_priority, "sequence": sequence, "stand": stand,
            "completed": done, "results": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.bench.load_runs", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--hogs", type=int, default=1, help="CPU-bound processes beside the runs")
    ap.add_argument("--rt-priority", type=int, metavar="1-99", help="hil run --rt-priority")
    ap.add_argument("--sequence", default="tq12_three_burn")
    ap.add_argument("--stand", default="sim_tq12_devices")
    ap.add_argument("--hog-s", type=float, default=300.0, help="each hog stops by itself after this long")
    ap.add_argument("--json", help="write the results here (default bench/results/load_runs.json)")
    ap.add_argument("--out", help="keep each run's directory under here (default: a temporary directory)")
    args = ap.parse_args(argv)
    res = load_runs(args.runs, args.hogs, args.rt_priority, args.sequence, args.stand, args.hog_s,
                    Path(args.out) if args.out else None)
    print(f"{res['completed']} of {res['runs']} runs completed beside {args.hogs} CPU-bound process(es)"
          + (f" with --rt-priority {args.rt_priority}" if args.rt_priority else ""))
    path = write_json("load_runs", res, args.json)
    print(f"written {path}")
    return 0 if res["completed"] == res["runs"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
