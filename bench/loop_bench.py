"""The controller's loop, measured: 1 kHz over Modbus TCP to the simulated stand, the Modbus
RTU transaction cost over a pty next to the wire time of the same frames, the recorder's cost,
and a whole lockstep hotfire.

    python -m hil.bench.loop_bench [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from hil.bench.common import write_json
from hil.catalog import find_sequence, find_stand
from hil.children import start_sim
from hil.controller import Controller
from hil.cycle.clock import MonotonicClock
from hil.cycle.loop import ControlLoop
from hil.frames import FrameLayout
from hil.record.recorder import Recorder, new_recorder, read_run
from hil.runner import RunOptions, run
from hil.safety import STATE_NAMES
from hil.stand import TransportConfig, load_stand
from hil.stand.devices import wire_time
from hil.stand.kinds import LinkKind
from hil.transport import open_transport

TQ12 = find_stand("sim_tq12")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed_loop(loop: ControlLoop, seconds: float, warm_s: float = 1.0) -> dict:
    """Start the loop, let it settle for ``warm_s``, then cycle ``seconds`` on fresh statistics
    (connection set-up and first reads are not the loop's steady state); its summary."""
    loop.start()
    warm = time.monotonic() + warm_s
    while time.monotonic() < warm:
        loop.step()
    loop.stats = type(loop.stats)(loop.rate_hz)
    loop.stats.t_first = loop.clock.now()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        loop.step()
    return loop.stats.summary()


def loop_tcp(seconds: float, rate: float = 1000.0, rt_priority: int | None = None) -> dict:
    """Idle stand (SAFE, purge cycling): the loop's own timing over real TCP. With
    ``rt_priority``, the loop's thread runs SCHED_FIFO at that priority for the measurement
    and the simulator 10 below it (``hil run --rt-priority``'s arrangement)."""
    from hil.rt import background_thread, set_realtime

    stand = load_stand(TQ12)
    child = start_sim(TQ12, "tcp", rt_priority=rt_priority)
    try:
        tr = open_transport(stand, dataclasses.replace(stand.transport, port=child.port))
        with tempfile.TemporaryDirectory() as d:
            recorder = new_recorder(Path(d) / "run", stand)
            ctl = Controller(stand, tr, MonotonicClock(), recorder=recorder, rate_hz=rate)
            loop = ctl.loop
            if rt_priority:
                set_realtime(rt_priority)
            try:
                c0, w0 = _cpu(), time.monotonic()
                out = timed_loop(loop, seconds)
                cpu = (_cpu() - c0) / (time.monotonic() - w0)
            finally:
                if rt_priority:
                    background_thread()  # this thread back to normal scheduling for the rest of the bench
            loop.shutdown()
            recorder.close()
    finally:
        child.stop()
    out["controller_cpu_share"] = cpu  # of one core
    out["seconds"] = seconds
    out["scheduling"] = f"SCHED_FIFO {rt_priority}" if rt_priority else "normal"
    return out


def rtu_cost(n: int) -> dict:
    """One 32-register read per transaction over a pty pair with the simulator's wire pacing off
    (``--no-pace``): pure software cost, set beside the physical wire time of the same frames."""
    stand = load_stand(TQ12)
    child = start_sim(TQ12, "rtu", extra=("--no-pace",))
    try:
        cfg = TransportConfig(kind=LinkKind.RTU, device=child.device, baud=115200, unit=1, timeout_s=0.2, retries=0)
        lat = []
        with open_transport(stand, cfg) as tr:
            count = stand.input_register_count
            for _ in range(50):
                tr.read_registers("input", 0, count)
            for _ in range(n):
                t0 = time.perf_counter()
                tr.read_registers("input", 0, count)
                lat.append(time.perf_counter() - t0)
    finally:
        child.stop()
    req, resp = 8, 5 + 2 * count
    lat_ms = np.array(lat) * 1e3
    out = {"registers": count, "request_bytes": req, "response_bytes": resp,
           "median_ms": float(np.median(lat_ms)), "p99_ms": float(np.percentile(lat_ms, 99)),
           "wire_ms_115200": wire_time(115200, req, resp) * 1e3, "wire_ms_921600": wire_time(921600, req, resp) * 1e3}
    out["software_over_wire_115200"] = out["median_ms"] / out["wire_ms_115200"]
    out["software_over_wire_921600"] = out["median_ms"] / out["wire_ms_921600"]
    return out


def recorder_cost(rows: int, channels: int = 64) -> dict:
    """Append ``rows`` rows of ``channels`` values, as the loop does; CPU per row (both threads)
    and bytes per second of recorded time at 1 kHz."""
    names = [f"ch{i}" for i in range(channels)]
    with tempfile.TemporaryDirectory() as d:
        rec = Recorder(Path(d) / "run", FrameLayout(tuple(names), tuple(f"a{i}" for i in range(8))),
                       states=STATE_NAMES)
        vals, cmds = np.random.default_rng(1).normal(size=channels), np.zeros(8)
        c0, w0 = _cpu(), time.perf_counter()
        for i in range(rows):
            rec.append(i * 1e-3, i, 0.01, 2, 3, vals, cmds, (1.0, 2.0, 3.0))
        append_s = time.perf_counter() - w0
        rec.close()
        cpu = _cpu() - c0
        size = (Path(d) / "run" / "data.arrow").stat().st_size
        t0 = time.perf_counter()
        table = read_run(Path(d) / "run").table
        read_s = time.perf_counter() - t0
    assert table.num_rows == rows
    return {"channels": channels, "rows": rows, "append_us_per_row": append_s / rows * 1e6,
            "cpu_us_per_row": cpu / rows * 1e6, "cpu_share_at_1khz": cpu / rows * 1000,
            "bytes_per_second_at_1khz": size / (rows / 1000), "read_s": read_s}


def burning_tcp() -> dict:
    """The loop's figures over a whole 100 % hotfire over Modbus TCP to the simulated stand (not
    idle: ignition, mainstage, shutdown, purge), from the run's own summary."""
    with tempfile.TemporaryDirectory() as d:
        res = run(RunOptions(sequence=str(find_sequence("tq12_hotfire_100")), stand=str(TQ12), sim="tcp",
                             out=str(Path(d) / "r"), progress=False))
    return {**res.summary["loop"], "outcome": res.summary["outcome"]}


def lockstep_hotfire() -> dict:
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        res = run(RunOptions(sequence=str(find_sequence("tq12_hotfire_100")), stand=str(TQ12),
                             sim="lockstep", out=str(Path(d) / "r"), progress=False))
        wall = time.perf_counter() - t0
    sim_s = res.summary["samples"] / 1000.0
    return {"simulated_s": sim_s, "wall_s": wall, "x_realtime": sim_s / wall, "outcome": res.summary["outcome"]}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    seconds, repeats, n_rtu, rows = (3.0, 1, 500, 20_000) if args.quick else (10.0, 3, 3000, 600_000)
    print(f"machine: {os.cpu_count()} cores; loop over TCP {repeats} × {seconds:g} s at 1 kHz (medians across runs)")
    runs = [loop_tcp(seconds) for _ in range(repeats)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if isinstance(runs[0][k], (int, float))}
    print(f"  TCP loop: achieved {med['achieved_hz']:.1f} Hz, lateness p50 {med['lateness_p50_ms']:.3f} ms, "
          f"p99 {med['lateness_p99_ms']:.3f} ms, max {med['lateness_max_ms']:.2f} ms, deadlines met "
          f"{100 * med['deadlines_met_share']:.2f} %, overruns {med['overruns']:.0f}, controller CPU {100 * med['controller_cpu_share']:.0f} %")
    rtu = rtu_cost(n_rtu)
    print(f"  RTU over a pty, {rtu['registers']}-register read: software {rtu['median_ms']:.3f} ms median "
          f"(p99 {rtu['p99_ms']:.3f}) vs wire {rtu['wire_ms_115200']:.2f} ms at 115200 "
          f"({100 * rtu['software_over_wire_115200']:.1f} %) and {rtu['wire_ms_921600']:.2f} ms at 921600 "
          f"({100 * rtu['software_over_wire_921600']:.1f} %)")
    rec = recorder_cost(rows)
    print(f"  recorder, 64 channels: {rec['append_us_per_row']:.2f} µs/row in the loop, {rec['cpu_us_per_row']:.2f} µs CPU/row "
          f"in all ({100 * rec['cpu_share_at_1khz']:.1f} % of a core at 1 kHz), {rec['bytes_per_second_at_1khz'] / 1e3:.0f} kB/s; "
          f"reading {rows} rows back {rec['read_s'] * 1e3:.0f} ms")
    ls = lockstep_hotfire()
    print(f"  lockstep hotfire (controller + simulator in one process): {ls['x_realtime']:.1f}× real time "
          f"({ls['simulated_s']:.1f} s in {ls['wall_s']:.1f} s)")
    out = write_json("loop", {"tcp_runs": runs, "tcp_median": med, "rtu": rtu, "recorder": rec, "lockstep": ls},
                     args.json)
    print(f"wrote {out}")
    return {"tcp": med, "rtu": rtu, "recorder": rec, "lockstep": ls}


if __name__ == "__main__":
    main()
