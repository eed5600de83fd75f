"""The console's cost: frame rate and frame cost of the plots with 8 curves × 1 kHz × 60 s,
and the controller's loop lateness with and without a console attached.

    python -m hil.bench.gui_bench [--quick] [--json PATH]

Rendering is offscreen (software raster), like the tests; on a desktop with a GPU-backed
window system the frame cost is lower, not higher.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from hil.bench.common import write_json
from hil.catalog import find_stand

ROOT = Path(__file__).resolve().parent.parent


def frame_cost(frames: int, curves: int = 8, seconds: float = 60.0, rate: float = 1000.0) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from hil.gui.model import ConsoleModel
    from hil.gui.plots import PlotPanel

    app = QApplication.instance() or QApplication([])
    names = [f"p{i}" for i in range(curves)]
    meta = {"columns": ["time", "state", "step", "pc_setpoint", *names], "rate_hz": rate, "pc_channel": "p0",
            "channels": [{"name": n, "units": "MPa", "valid": [0, 20], "description": "",
                          "plot": "pc" if i < 2 else "thrust" if i == 2 else "pressures"}
                         for i, n in enumerate(names)],
            "actuators": [], "redlines": []}
    model = ConsoleModel()
    model.configure(meta, seconds=seconds)
    panel = PlotPanel(model, window_s=seconds)
    panel.resize(1280, 900)
    panel.configure()
    panel.show()
    # every curve into a plot, as a stand file declares it (plots are never guessed from names)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    rows = np.column_stack([t, np.zeros(n), np.zeros(n), np.full(n, 10.0)] +
                           [10 + np.sin(t * (i + 1)) + 0.05 * np.random.default_rng(i).normal(size=n) for i in range(curves)])
    model.add_rows(rows)
    step = int(rate / 30)
    times = []
    t_next = t[-1]
    for _ in range(frames):
        new_t = t_next + np.arange(1, step + 1) / rate
        t_next = new_t[-1]
        new = np.column_stack([new_t, np.zeros(step), np.zeros(step), np.full(step, 10.0)] +
                              [10 + np.sin(new_t * (i + 1)) for i in range(curves)])
        t0 = time.perf_counter()
        model.add_rows(new)
        panel.refresh()
        panel.glw.viewport().repaint()  # paint now, synchronously: what one frame really costs
        app.processEvents()
        times.append(time.perf_counter() - t0)
    plotted = sum(1 for c in panel.curves.values() if c.getData()[0] is not None)
    if plotted < curves:
        raise RuntimeError(f"only {plotted} of {curves + 1} curves were plotted: the benchmark measures nothing")
    ms = np.array(times) * 1e3
    return {"curves_plotted": plotted, "points_per_curve": n, "frames": frames, "frame_ms_median": float(np.median(ms)),
            "frame_ms_p99": float(np.percentile(ms, 99)), "fps": 1000.0 / float(np.median(ms))}


def loop_with_and_without_gui(seconds: float) -> dict:
    from hil.gui.app import EmbeddedController
    from hil.service.client import ControllerClient

    ctl = EmbeddedController(find_stand("sim_tq12"), out=Path("/tmp/gui-bench-session"))
    client = ControllerClient(ctl.rep, ctl.pub, timeout_s=5)
    out = {}
    try:
        time.sleep(1.0)  # the controller warms up (a benchmark, not a test)
        time.sleep(seconds)
        out["without_gui"] = client.request("loop_stats", last=int(seconds * 1000))
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        gui = subprocess.Popen([sys.executable, "-m", "hil.cli", "gui", "--connect", ctl.rep, ctl.pub],
                               env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3.0 + seconds)
        out["with_gui"] = client.request("loop_stats", last=int(seconds * 1000))
        gui.terminate()
        gui.wait(timeout=20)
    finally:
        client.close()
        ctl.stop()
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    frames, seconds, repeats = (30, 3.0, 1) if args.quick else (150, 10.0, 3)
    fc = [frame_cost(frames) for _ in range(repeats)]
    med = {k: statistics.median(r[k] for r in fc) for k in fc[0]}
    print(f"plots: {med['curves_plotted']:.0f} curves × {med['points_per_curve']:.0f} points: frame "
          f"{med['frame_ms_median']:.1f} ms median (p99 {med['frame_ms_p99']:.1f}) → {med['fps']:.0f} fps (target ≥ 30)")
    loops = loop_with_and_without_gui(seconds)
    for k in ("without_gui", "with_gui"):
        s = loops[k]
        print(f"controller loop {k.replace('_', ' ')}: lateness p50 {s['lateness_p50_ms']:.3f} ms, "
              f"p99 {s['lateness_p99_ms']:.3f} ms, max {s['lateness_max_ms']:.2f} ms, deadlines met "
              f"{100 * s['deadlines_met_share']:.2f} % of {s['deadlines_due']} (last {seconds:g} s)")
    out = write_json("gui", {"frames": fc, "frames_median": med, "loop": loops}, args.json)
    print(f"wrote {out}")
    return {"frames": med, "loop": loops}


if __name__ == "__main__":
    main()
