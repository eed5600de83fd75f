"""The console's cost: frame rate and frame cost of the plots with 8 curves × 1 kHz × 60 s,
and the controller's loop lateness with and without a console attached.

    python -m hil.bench.gui_bench [--quick] [--json PATH]

Rendering is offscreen (software raster), like the tests; on a desktop with a GPU-backed
window system the frame cost is lower, not higher.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from hil.bench.common import write_json
from hil.catalog import find_sequence, find_stand
from hil.gui.app import EmbeddedController

ROOT = Path(__file__).resolve().parent.parent


def _paint_counter() -> Any:
    """A Qt event filter counting paint events (each frame must really be painted)."""
    from PySide6.QtCore import QEvent, QObject

    class Counter(QObject):
        n = 0

        def eventFilter(self, obj: Any, event: Any) -> bool:
            if event.type() == QEvent.Type.Paint:
                self.n += 1
            return False

    return Counter()


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
    paints = _paint_counter()
    panel.glw.viewport().installEventFilter(paints)
    times = []
    t_next = t[-1]
    for _ in range(frames):
        new_t = t_next + np.arange(1, step + 1) / rate
        t_next = new_t[-1]
        new = np.column_stack([new_t, np.zeros(step), np.zeros(step), np.full(step, 10.0)] +
                              [10 + np.sin(new_t * (i + 1)) for i in range(curves)])
        before = paints.n
        t0 = time.perf_counter()
        model.add_rows(new)
        panel.refresh()
        app.processEvents()  # what the console's event loop does after a tick: one paint
        times.append(time.perf_counter() - t0)
        if paints.n == before:
            raise RuntimeError("a frame was not painted: the benchmark would time nothing")
    plotted = sum(1 for c in panel.curves.values() if c.getData()[0] is not None)
    if plotted < curves:
        raise RuntimeError(f"only {plotted} of {curves + 1} curves were plotted: the benchmark measures nothing")
    ms = np.array(times) * 1e3
    return {"curves_plotted": plotted, "points_per_curve": n, "frames": frames, "frame_ms_median": float(np.median(ms)),
            "frame_ms_p99": float(np.percentile(ms, 99)), "fps": 1000.0 / float(np.median(ms))}


def loop_with_and_without_gui(seconds: float) -> dict:
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


_REPORT = re.compile(r"frames (\d+) in ([\d.]+) s \(([\d.]+) fps\), interval (\d+) ms, cpu ([\d.]+) % of a core, "
                     r"state (\S+)")


def console_cpu(seconds: float) -> dict:
    """The console's own CPU share (its process: drawing, painting, receiving 1 kHz telemetry)
    with a live controller on the TQ-12 stand: idle (SAFE, nobody at the console, after the
    console's quiet period) and during a hotfire (30 fps). Measured by the console itself
    (``--report-frames``), every second."""
    from hil.gui.main_window import IDLE_AFTER_S
    from hil.service.client import ControllerClient

    ctl = EmbeddedController(find_stand("sim_tq12"), out=Path(tempfile.mkdtemp(prefix="hil-console-cpu-")))
    client = ControllerClient(ctl.rep, ctl.pub, timeout_s=10)
    reports: list[tuple[float, dict]] = []
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    gui = subprocess.Popen([sys.executable, "-m", "hil.cli", "gui", "--connect", ctl.rep, ctl.pub, "--report-frames",
                            "1"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def read() -> None:
        assert gui.stdout is not None
        for line in gui.stdout:
            m = _REPORT.search(line)
            if m:
                reports.append((time.monotonic(), {"frames": int(m[1]), "seconds": float(m[2]), "fps": float(m[3]),
                                                   "interval_ms": int(m[4]), "cpu_share": float(m[5]) / 100,
                                                   "state": m[6]}))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def window(t0: float, t1: float) -> dict:
        rows = [r for t, r in reports if t0 < t <= t1]
        if not rows:
            raise RuntimeError("the console reported nothing: it did not start or did not connect")
        return {"cpu_share": statistics.median(r["cpu_share"] for r in rows),
                "fps": statistics.median(r["fps"] for r in rows), "states": sorted({r["state"] for r in rows}),
                "reports": rows}

    out: dict = {}
    try:
        time.sleep(IDLE_AFTER_S + 3.0)  # connected, SAFE, then quiet: the console settles to its idle rate
        t0 = time.monotonic()
        time.sleep(seconds)  # a benchmark's measuring period, not a synchronisation
        out["idle"] = window(t0, time.monotonic())
        for reply in (client.load(str(find_sequence("tq12_hotfire_100"))), client.arm(), client.start()):
            if not reply.get("ok"):
                raise RuntimeError(f"the controller refused: {reply}")
        time.sleep(2.0)  # the console sees RUNNING and goes back to full rate
        t0 = time.monotonic()
        time.sleep(seconds)
        out["running"] = window(t0, time.monotonic())
    finally:
        gui.terminate()
        gui.wait(timeout=20)
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
