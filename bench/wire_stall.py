"""How long the simulated serial wire (hil/ptypair.py) can stall on a busy machine: 8-byte echoes
across a pty pair, its bridge at normal priority and then at SCHED_FIFO, beside CPU-bound
processes, each echo's round trip measured.

    python -m hil.bench.wire_stall [--seconds 20] [--runs 4] [--hogs 2] [--json PATH]

Then the run that showed it: ``hil run lab_relight --stand sim_lab --sim rtu`` (each its own
process, as a crew starts it), ``--runs`` times with the bridge at each scheduling, beside the
same hogs; each run's outcome, reason and the RTU link's timeouts.

Why it exists: the lab relight over RTU faulted on the firmware watchdog beside two CPU hogs
while the controller and the simulator were each at most 17 ms late; the bridge process, not
scheduled for 100+ ms, held the bytes. A real wire never waits for a CPU. Figures are round
trips in ms (median, p99, p99.9, max) and how many exceeded the RTU timeout the simulated stands
use (30 ms), beside the calibration loop of the same run; FIFO needs root or CAP_SYS_NICE, and
where it is refused the JSON says so.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
import tty
from pathlib import Path
from typing import Any

from hil.bench.common import calibration, write_json
from hil.bench.load_runs import start_hogs, stop_hogs
from hil.links import SIM_RTU_MIN_TIMEOUT_S
from hil.ptypair import WIRE_ENV, PtyPair
from hil.readiness import read_until

ECHO = """
import os, sys, tty
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)  # flushes what arrived before it: say when it is done
print("echo-ready", flush=True)
while True:
    os.write(fd, os.read(fd, 64))
"""
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_MS = SIM_RTU_MIN_TIMEOUT_S * 1e3  # the shortest RTU timeout of the simulated stands


def echoes(realtime: bool, seconds: float) -> dict[str, Any]:
    """Round trips of 8 bytes, one every millisecond, through a fresh pair for ``seconds``."""
    pair = PtyPair.open(realtime=realtime)
    echo = subprocess.Popen([sys.executable, "-c", ECHO, pair.a], stdout=subprocess.PIPE)
    fd = os.open(pair.b, os.O_RDWR | os.O_NOCTTY)
    trips: list[float] = []
    try:
        tty.setraw(fd)
        assert echo.stdout is not None
        read_until(echo.stdout.fileno(), "echo-ready", 10.0)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.monotonic()
            os.write(fd, b"\x01\x03\x00\x00\x00\x01\x84\x0a")
            got = 0
            while got < 8:
                if not select.select([fd], [], [], 5.0)[0]:
                    raise RuntimeError(f"an echo was lost ({got} of 8 bytes back within 5 s)")
                got += len(os.read(fd, 64))
            trips.append((time.monotonic() - t0) * 1e3)
            time.sleep(0.001)
    finally:
        os.close(fd)
        echo.kill()
        echo.wait(timeout=5)
        if echo.stdout is not None:
            echo.stdout.close()
        pair.close()
    trips.sort()
    n = len(trips)
    return {"scheduling": pair.scheduling, "echoes": n, "p50_ms": round(statistics.median(trips), 3),
            "p99_ms": round(trips[int(n * 0.99)], 3), "p999_ms": round(trips[int(n * 0.999)], 3),
            "max_ms": round(trips[-1], 2), "over_timeout": sum(t > TIMEOUT_MS for t in trips)}


def relights(realtime: bool, runs: int, out: Path) -> list[dict[str, Any]]:
    """``runs`` lab relights over the simulated RTU line, the bridge scheduled as asked."""
    rows = []
    env = {**os.environ, WIRE_ENV: "fifo" if realtime else "normal"}
    for i in range(runs):
        run_dir = out / f"{'fifo' if realtime else 'normal'}-{i}"
        cmd = [sys.executable, "-m", "hil.cli", "run", str(ROOT / "configs/sequences/lab_relight.toml"), "--stand",
               str(ROOT / "configs/stands/sim_lab.toml"), "--sim", "rtu", "--out", str(run_dir)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
        path = run_dir / "summary.json"
        if not path.exists():
            rows.append({"exit_code": proc.returncode, "outcome": "no summary", "reason": proc.stderr[-300:]})
            continue
        s = json.loads(path.read_text())
        rows.append({"exit_code": proc.returncode, "outcome": s["outcome"],
                     "reason": s.get("fault_reason") or s.get("abort_reason"),
                     "timeouts": s["transport"]["timeouts"], "wires": s.get("simulator", {}).get("wires"),
                     "controller_late_max_ms": round(s["loop"]["lateness_max_ms"], 1),
                     "simulator_late_max_ms": s.get("simulator", {}).get("answer_late_max_ms")})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.bench.wire_stall", description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="echoes per scheduling, seconds")
    ap.add_argument("--runs", type=int, default=4, help="lab relights over RTU per scheduling (0: none)")
    ap.add_argument("--hogs", type=int, default=2, help="CPU-bound processes beside the echoes")
    ap.add_argument("--json", help="where to write the figures (default bench/results/wire_stall.json)")
    args = ap.parse_args(argv)
    cal = calibration()
    hogs = start_hogs(args.hogs, 2 * args.seconds + 120 * args.runs + 60)
    try:
        rows = [echoes(False, args.seconds), echoes(True, args.seconds)]
        with tempfile.TemporaryDirectory(prefix="wire-stall-") as tmp:
            runs = {"normal": relights(False, args.runs, Path(tmp)), "fifo": relights(True, args.runs, Path(tmp))}
    finally:
        stop_hogs(hogs)
    print(f"calibration {cal:.2f} Mops/s; {args.hogs} CPU hog(s); 8-byte echoes across the pty pair, ms:")
    for r in rows:
        print(f"  bridge {r['scheduling']:<22} n={r['echoes']:<6} p50 {r['p50_ms']:.3f}  p99 {r['p99_ms']:.3f}  "
              f"p99.9 {r['p999_ms']:.3f}  max {r['max_ms']:.1f}  over {TIMEOUT_MS:g} ms: {r['over_timeout']}")
    for name, rs in runs.items():
        done = sum(r["outcome"] == "completed" for r in rs)
        print(f"  lab relight over RTU, bridge {name}: {done} of {len(rs)} completed; timeouts per run "
              f"{[r.get('timeouts') for r in rs]}")
        for r in rs:
            if r["outcome"] != "completed":
                print(f"    {r['outcome']}: {r['reason']}")
    path = write_json("wire_stall", {"calibration_mops": cal, "hogs": args.hogs, "seconds": args.seconds,
                                     "timeout_ms": TIMEOUT_MS, "echoes": rows, "relights": runs}, args.json)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
