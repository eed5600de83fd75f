"""Where a controller cycle's time goes: each stage of the loop timed over a whole lockstep
hotfire on the TQ-12 stand, and the controller's own work (the cycle minus the time inside
transport calls, which in lockstep is the simulated stand's: plant scans and sensor sampling).

    python -m hil.bench.cycle_profile [--sequence NAME] [--stand NAME] [--json PATH]

Each part is wrapped in a timer (~0.3 µs per part per cycle of its own); medians and means
per cycle in µs. Written against the loop's long-standing method names, so the same file
measures an older commit for a before/after table.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any

from hil.bench.common import calibration, write_json
from hil.catalog import find_sequence, find_stand
from hil.runner import RunOptions, run


def profile(sequence: str = "tq12_hotfire_100", stand: str = "sim_tq12") -> dict[str, Any]:
    """Run the sequence in lockstep with every stage timed; per-part figures and the whole."""
    acc: dict[str, list[float]] = collections.defaultdict(list)
    io: list[float] = [0.0]
    seen: set[int] = set()

    def wrap(obj: Any, attr: str, name: str, is_io: bool = False) -> None:
        f: Callable[..., Any] = getattr(obj, attr)

        def timed(*a: Any, **k: Any) -> Any:
            t0 = perf_counter()
            try:
                return f(*a, **k)
            finally:
                dt = perf_counter() - t0
                if is_io:
                    io[0] += dt
                else:
                    acc[name].append(dt)

        setattr(obj, attr, timed)

    def hook(ctl: Any) -> None:
        loop = ctl.loop
        if id(loop) in seen:
            return
        seen.add(id(loop))
        for tr in {id(lk.transport): lk.transport for lk in loop.io.links}.values():
            for attr in ("begin_read", "end_read", "write"):
                wrap(tr, attr, "", is_io=True)
        body = loop._cycle_body  # noqa: SLF001 (a benchmark looking inside)

        def cycle(cs: Any) -> None:
            io[0] = 0.0
            t0 = perf_counter()
            body(cs)
            total = perf_counter() - t0
            acc["cycle (all)"].append(total)
            acc["transport calls (stand's time in lockstep)"].append(io[0])
            acc["controller work (cycle - transport)"].append(total - io[0])

        loop._cycle_body = cycle  # noqa: SLF001
        wrap(loop.decoder, "eng", "read: decode to eng units")
        wrap(loop, "_read", "read stage (with transport)")
        wrap(loop.supervisor, "on_cycle", "supervisor")
        for st in loop.stages:
            wrap(st, "on_cycle", f"stage: {st.name}")
        wrap(loop, "_write", "write stage (with transport)")
        wrap(loop, "_publish", "publish (recorder, clients)")

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        res = run(RunOptions(sequence=str(find_sequence(sequence)), stand=str(find_stand(stand)), sim="lockstep",
                             out=str(Path(d) / "r"), progress=False, on_cycle=hook))
        wall = time.perf_counter() - t0
    parts = {k: {"median_us": 1e6 * statistics.median(v), "mean_us": 1e6 * statistics.fmean(v)} for k, v in acc.items()}
    return {"sequence": sequence, "stand": stand, "outcome": res.summary["outcome"], "cycles": res.summary["samples"],
            "wall_s": wall, "x_realtime_with_timers": res.summary["samples"] / 1000 / wall, "parts": parts}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sequence", default="tq12_hotfire_100")
    ap.add_argument("--stand", default="sim_tq12")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    cal = calibration()
    r = profile(args.sequence, args.stand)
    r["calibration_mops"] = cal
    print(f"{'part':<48}{'median µs':>11}{'mean µs':>10}")
    for k, v in r["parts"].items():
        print(f"{k:<48}{v['median_us']:>11.1f}{v['mean_us']:>10.1f}")
    print(f"{r['cycles']} cycles, {r['outcome']}, {r['x_realtime_with_timers']:.1f}x real time with the timers; "
          f"calibration loop before the run {cal:.2f} Mops/s (hil.bench.common.calibration)")
    print(f"wrote {write_json('cycle_profile', r, args.json)}")
    return r


if __name__ == "__main__":
    main(sys.argv[1:])
