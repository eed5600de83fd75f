"""What a compiled core would buy (issue 26): the hot modules compiled with mypyc in a copy of
this checkout, measured against the pure-Python checkout back to back, with the recordings of
both compared byte for byte.

This is a measurement, not a build of the product: the copy lives in a temporary directory
(or ``--keep DIR``) and nothing here changes what ``hil`` imports. It answers two questions
before anyone ships a compiled core: how much faster a lockstep run gets (rounds alternate
between the trees, each beside its own calibration loop, hil/bench/lockstep_speed.py), and
whether the compiled code still records the same run (the same seed must give the same
``data.arrow`` SHA-256 in both trees, every round, or the benchmark fails).

    python -m hil.bench.native_trial [--rounds N] [--paced] [--modules FILE ...] [--keep DIR] [--json PATH]

``--paced`` adds the 100 % hotfire over TCP at 1 kHz in each tree (the paced controller work
and deadlines met). ``--fault-matrix`` adds ``hil faults`` in each tree (2 workers): a campaign's
wall time, and every cell's outcome, reason and figures compared between the trees, the fault
paths (lost devices, RTU framing errors, exceptions) being where compiled code meets what the
nominal run never shows. ``--census`` runs the fast test tier (``-m "not slow"``) against the
compiled tree, the tests copied beside it, and lists every test that fails there: what stands
between the trial and a shipped core. mypyc comes with mypy (the ``test`` extra); the build takes about 1.5 min
for the default modules on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from hil.bench.common import calibration, write_json
from hil.bench.lockstep_speed import HERE, measure, one_run

# The modules a lockstep cycle spends its time in (cProfile of the TQ-12 three-burn): the
# simulated stand's plant, sensors and firmware, the controller's loop, read stage and safety
# stages, the register codecs, the sequence engine, the throttle and the recorder. Left out:
# firmware_sim's faults, trip and watchdogs (mypyc 1.20's code generator stops on an
# AssertionError in emit_method_call when they are in the set) and everything that runs once
# per run. The transports that talk to pymodbus are in because their base class is: an
# interpreted class cannot inherit from a compiled one (TypeError at import).
HOT_MODULES: tuple[str, ...] = (
    "firmware_sim/engine.py", "firmware_sim/faces.py", "firmware_sim/firmware.py", "firmware_sim/sensors.py",
    "firmware_sim/thermo.py", "firmware_sim/truth.py", "firmware_sim/hardstart.py",
    "hil/cycle/clock.py", "hil/cycle/loop.py", "hil/cycle/loopstats.py", "hil/cycle/state.py",
    "hil/io/standio.py", "hil/stand/iomap.py", "hil/stand/registers.py", "hil/stand/calibration.py",
    "hil/safety/abort_switch.py", "hil/safety/blind.py", "hil/safety/client_watch.py", "hil/safety/ignition.py",
    "hil/safety/redlines.py", "hil/safety/sensors.py", "hil/safety/start.py", "hil/safety/supervisor.py",
    "hil/safety/valve_watch.py",
    "hil/sequence/engine.py", "hil/sequence/expr.py", "hil/sequence/burns.py",
    "hil/transport/base.py", "hil/transport/lockstep.py", "hil/transport/answers.py", "hil/transport/modbus_log.py",
    "hil/transport/framed.py", "hil/transport/modbus_tcp.py", "hil/transport/modbus_rtu.py",
    "hil/throttle.py", "hil/record/recorder.py",
)

# what mypyc's type check needs of the project's mypy settings (pyproject.toml's [tool.mypy])
MYPY_INI = """[mypy]
python_version = 3.11
check_untyped_defs = True
[mypy-pyarrow,pyarrow.*,pyqtgraph,pyqtgraph.*,nptdms,serial,serial.*,distributed,distributed.*,dask,dask.*]
ignore_missing_imports = True
"""


class BuildFailed(RuntimeError):
    """mypyc or the C compiler refused the modules: the tail of its output says which."""


def copy_tree(dest: Path) -> Path:
    """The packages and shipped configs of this checkout, without caches or earlier builds."""
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "results")
    for name in ("hil", "firmware_sim", "configs", "bench"):  # hil/configs and hil/bench link to the last two
        shutil.copytree(HERE / name, dest / name, symlinks=True, ignore=ignore)
    (dest / "mypy.ini").write_text(MYPY_INI)
    return dest


def copy_tests(dest: Path) -> None:
    """What the test suite reads beside the packages (the console, the docs it checks, the
    scripts it runs), copied after the build: mypyc's setuptools step must not see
    pyproject.toml."""
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "results")
    for name in ("gui", "tests", "docs", ".ci"):
        shutil.copytree(HERE / name, dest / name, symlinks=True, ignore=ignore)
    for name in ("README.md", "pyproject.toml", "run.sh", "test.sh"):
        shutil.copy2(HERE / name, dest / name)


def census(tree: Path) -> dict[str, object]:
    """The fast tier run against ``tree`` (its code first on the path): how many tests pass and,
    for each that fails, its id and the first line of why."""
    report = tree / "census.xml"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider",
                    f"--junitxml={report}"], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
                   capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if not report.exists():
        raise RuntimeError(f"pytest wrote no report in {tree}")
    failed: dict[str, str] = {}
    total = 0
    for case in ET.parse(report).getroot().iter("testcase"):
        total += 1
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            name = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
            failed[name] = (bad.get("message") or "").splitlines()[0][:200] if bad.get("message") else ""
    return {"tests": total, "failed": failed, "wall_s": wall}


def build(tree: Path, modules: tuple[str, ...]) -> dict[str, object]:
    """Compile ``modules`` in place in ``tree``; the extension modules then shadow their sources
    for any interpreter with ``tree`` first on its path."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mypyc", *modules], cwd=tree, capture_output=True, text=True,
                          check=False)
    seconds = time.perf_counter() - t0
    built = sorted(str(p.relative_to(tree)) for p in tree.rglob("*.so"))
    if proc.returncode != 0:
        raise BuildFailed(f"mypyc exit {proc.returncode} after {seconds:.0f} s:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return {"build_s": seconds, "modules": list(modules), "extensions": built}


def loaded_from(tree: Path, modules: tuple[str, ...]) -> list[str]:
    """Where a child interpreter run as the benchmark runs it (PYTHONPATH=tree) imports each
    module from: proof that the measured tree really ran compiled code."""
    names = [m.removesuffix(".py").replace("/", ".") for m in modules]
    code = "import importlib, sys\nfor n in sys.argv[1:]: print(importlib.import_module(n).__file__)"
    out = subprocess.run([sys.executable, "-c", code, *names], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def fault_matrix(tree: Path) -> tuple[float, list[dict[str, object]]]:
    """``hil faults`` run from ``tree``: its wall time and its cells (a failing cell is data
    here, not an error: both trees must fail it alike)."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "cells.json"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "hil.cli", "faults", "--workers", "2", "--json", str(out)],
                              cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True,
                              check=False)
        wall = time.perf_counter() - t0
        if not out.exists():
            raise RuntimeError(f"hil faults in {tree}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
        return wall, json.loads(out.read_text())


def cells_differing(pure: list[dict[str, object]], compiled: list[dict[str, object]]) -> list[str]:
    """The fault-matrix cells that did not end alike in both trees (every field of the cell:
    outcome, reason, reaction time, valves, peak Pc, recording, verdict), by name."""
    differ = [f"{a['fault']} / {a['phase']}" for a, b in zip(pure, compiled) if a != b]
    if len(pure) != len(compiled):
        differ.append(f"cell count {len(pure)} vs {len(compiled)}")
    return differ


def main(argv: list[str] | None = None) -> dict[str, object]:
    ap = argparse.ArgumentParser(prog="python -m hil.bench.native_trial", description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sequence", default="tq12_three_burn")
    ap.add_argument("--stand", default="sim_tq12")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--paced", action="store_true", help="also the 100 %% hotfire over TCP at 1 kHz in each tree")
    ap.add_argument("--fault-matrix", action="store_true", help="also hil faults in each tree, cells compared")
    ap.add_argument("--census", action="store_true", help="also the fast test tier against the compiled tree")
    ap.add_argument("--modules", nargs="+", help="files to compile, relative to the checkout (default: HOT_MODULES)")
    ap.add_argument("--keep", help="build the compiled copy here and leave it (default: a temporary directory)")
    ap.add_argument("--json", help="where to write the JSON (default bench/results/native_trial.json)")
    args = ap.parse_args(argv)
    modules = tuple(args.modules) if args.modules else HOT_MODULES
    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="hil-native-")
    dest = Path(tmp.name) if tmp is not None else Path(args.keep)
    try:
        copy_tree(dest)
        print(f"compiling {len(modules)} modules with mypyc in {dest} ...", flush=True)
        info = build(dest, modules)
        where = loaded_from(dest, modules)
        native = [w for w in where if w.endswith(".so")]
        print(f"  built in {info['build_s']:.0f} s; {len(native)} of {len(modules)} modules load compiled", flush=True)
        if len(native) != len(modules):
            raise BuildFailed("modules still loading from source: " + ", ".join(w for w in where if not w.endswith(".so")))
        print(f"lockstep {args.sequence} on {args.stand}, whole process, {args.rounds} round(s), seed {args.seed}")
        res = measure([HERE, dest], args.rounds, args.sequence, args.stand, args.seed)
        runs = res["runs"]  # type: ignore[index]
        shas = {r["data_sha256"] for rs in runs.values() for r in rs}  # type: ignore[attr-defined]
        outcomes = {r["outcome"] for rs in runs.values() for r in rs}  # type: ignore[attr-defined]
        same = len(shas) == 1 and None not in shas
        med = res["medians"]  # type: ignore[index]
        pure, comp = med[str(HERE)], med[str(dest)]  # type: ignore[index]
        out: dict[str, object] = {**res, "build": info, "identical_recordings": same, "outcomes": sorted(outcomes),
                                  "speedup_x_realtime": comp["x_realtime"] / pure["x_realtime"],
                                  "speedup_per_cal": comp["x_per_cal"] / pure["x_per_cal"]}
        print(f"{'tree':<12}{'x real time':>12}{'calibration':>13}{'x / cal':>9}{'work p50 us':>13}")
        for label, m in (("pure", pure), ("compiled", comp)):
            print(f"{label:<12}{m['x_realtime']:>12.2f}{m['calibration_mops']:>13.2f}{m['x_per_cal']:>9.3f}"
                  f"{m['work_p50_us']:>13.1f}")
        print(f"compiled / pure: {out['speedup_x_realtime']:.2f}x real time, {out['speedup_per_cal']:.2f}x per "
              f"calibration; target >= 20x real time: {'met' if comp['x_realtime'] >= 20 else 'MISSED'} "
              f"({comp['x_realtime']:.1f}x)")
        print(f"recordings: {'identical' if same else 'DIFFERENT'} in every round ({len(shas)} distinct data.arrow)")
        if args.paced:
            paced: dict[str, dict[str, object]] = {}
            for label, tree in (("pure", HERE), ("compiled", dest)):
                cal = calibration()
                run = one_run(tree, "tq12_hotfire_100", "sim_tq12", args.seed, sim="tcp")
                paced[label] = {"calibration_mops": cal, **run}
                print(f"paced TCP hotfire, {label}: deadlines met {100 * float(run['deadlines_met_share']):.2f} %, "  # type: ignore[arg-type]
                      f"controller work p50 {run['work_p50_us']:.0f} us (target <= 100), calibration {cal:.2f} Mops/s",
                      flush=True)
            out["paced"] = paced
            out["paced_work_ratio"] = (float(paced["compiled"]["work_p50_us"])  # type: ignore[arg-type]
                                       / float(paced["pure"]["work_p50_us"]))  # type: ignore[arg-type]
        if args.fault_matrix:
            walls, cells = {}, {}
            for label, tree in (("pure", HERE), ("compiled", dest)):
                cal = calibration()
                walls[label], cells[label] = fault_matrix(tree)
                print(f"fault matrix, {label}: {len(cells[label])} cells in {walls[label]:.0f} s "
                      f"({sum(bool(c['passed']) for c in cells[label])} pass), calibration {cal:.2f} Mops/s", flush=True)
                walls[label + "_calibration_mops"] = cal
            differ = cells_differing(cells["pure"], cells["compiled"])
            out["fault_matrix"] = {"wall_s": walls, "cells": len(cells["pure"]), "cells_differing": differ,
                                   "speedup": walls["pure"] / walls["compiled"]}
            print(f"fault matrix compiled / pure: {walls['pure'] / walls['compiled']:.2f}x; cells differing: "
                  f"{len(differ)}" + (f" ({'; '.join(differ[:5])})" if differ else ""))
            same = same and not differ
        if args.census:
            copy_tests(dest)
            print("fast tier against the compiled tree ...", flush=True)
            c = census(dest)
            out["census"] = c
            failed: dict[str, str] = c["failed"]  # type: ignore[assignment]
            print(f"census: {int(c['tests']) - len(failed)} of {c['tests']} tests pass compiled "  # type: ignore[call-overload]
                  f"({float(c['wall_s']):.0f} s); failing:")  # type: ignore[arg-type]
            for name, why in failed.items():
                print(f"  {name}: {why}")
        print(f"wrote {write_json('native_trial', out, args.json)}")
        if not same:
            raise SystemExit("the compiled tree recorded a different run or fault-matrix cell: its speed means nothing")
        return out
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main(sys.argv[1:])
