"""Stands of several devices: what a cycle costs with 1, 2 and 4 Modbus TCP devices (the
controller's concurrent reads beside a one-device-after-another baseline measured in the same
run), and what an RS-485 line polled in its own thread does to the fast loop's timing.

Each TCP "device" is pymodbus's own server and SimDevice in a process of its own (independent
devices answer in parallel, as real ones do); the RS-485 figures use the shipped four-device
simulated stand, with and without its two modules on the paced RTU line.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from hil.bench.loop_bench import timed_loop
from hil.catalog import find_stand
from hil.controller import Controller
from hil.cycle.clock import MonotonicClock
from hil.links import open_link
from hil.stand import parse_stand
from hil.transport import open_transports

CHANNELS_PER_DEVICE = 16


def _device_process(conn: Connection, latency_s: float) -> None:
    """One Modbus TCP device: pymodbus's server, 64 input registers, answering each request
    ``latency_s`` after it arrives (a PLC's scan, a DAQ's conversion), until told to stop."""
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    async def action(*_: object) -> None:
        if latency_s:
            await asyncio.sleep(latency_s)

    async def main() -> None:
        dev = SimDevice(id=1, action=action, simdata=(
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=64, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=64, values=list(range(1000, 1064)), datatype=DataType.REGISTERS)],
        ))
        server = ModbusTcpServer(dev, address=("127.0.0.1", 0))
        await server.serve_forever(background=True)
        conn.send(server.transport.sockets[0].getsockname()[1])  # type: ignore[union-attr,attr-defined]
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await server.shutdown()

    asyncio.run(main())


def _stand(ports: list[int]) -> str:
    devs = "".join(f'[[devices]]\nname = "d{i}"\nlink = "tcp"\nhost = "127.0.0.1"\nport = {p}\ntimeout_s = 0.2\n\n'
                   for i, p in enumerate(ports))
    chans = "".join(f'[[channels]]\nname = "c{i}_{k}"\ndevice = "d{i}"\nregister = {k}\ntype = "u16"\n'
                    for i in range(len(ports)) for k in range(CHANNELS_PER_DEVICE))
    acts = "".join(f'[[actuators]]\nname = "v{i}"\nkind = "valve"\ndevice = "d{i}"\ntable = "coil"\nregister = 0\n'
                   for i in range(len(ports)))
    safe = ", ".join(f"v{i} = 0" for i in range(len(ports)))
    return (f'[stand]\nname = "bench-{len(ports)}"\n\n{devs}[loop]\nrate_hz = 10000\n\n{chans}{acts}'
            f'[safing]\nsteps = [{{ at = 0.0, set = {{ {safe} }} }}]\n')


def device_scaling(counts: tuple[int, ...] = (1, 2, 4), seconds: float = 3.0, latency_s: float = 0.0) -> dict[str, Any]:
    """Unpaced full controller cycles against N devices; and N plain reads one after another."""
    ctx = mp.get_context("spawn")
    n_max = max(counts)
    pipes, procs, ports = [], [], []
    for _ in range(n_max):
        a, b = ctx.Pipe()
        p = ctx.Process(target=_device_process, args=(b, latency_s), daemon=True)
        p.start()
        pipes.append(a)
        procs.append(p)
    try:
        ports = [a.recv() for a in pipes]
        rows = []
        for n in counts:
            stand = parse_stand(_stand(ports[:n]), f"bench-{n}.toml")
            transports = open_transports(stand)
            ctl = Controller(stand, transports, MonotonicClock(), rate_hz=100_000)
            loop = ctl.loop
            loop.start()
            for _ in range(300):
                loop.step()
            c0, t0 = loop.cycle, time.monotonic()
            while time.monotonic() < t0 + seconds:
                loop.step()
            ours_us = 1e6 * (time.monotonic() - t0) / (loop.cycle - c0)
            # the baseline: the same reads, one device after another, nothing else
            k, t0 = 0, time.monotonic()
            while time.monotonic() < t0 + seconds:
                for t in transports.values():
                    t.read_registers("input", 0, CHANNELS_PER_DEVICE)
                k += 1
            seq_us = 1e6 * (time.monotonic() - t0) / k
            loop.shutdown("bench over")
            rows.append({"devices": n, "controller_cycle_us": ours_us, "sequential_reads_us": seq_us})
    finally:
        for a in pipes:
            a.send("stop")
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
    one = rows[0]["controller_cycle_us"]
    for r in rows:
        r["ratio_to_one_device"] = r["controller_cycle_us"] / one
    return {"rows": rows, "channels_per_device": CHANNELS_PER_DEVICE, "seconds": seconds, "latency_s": latency_s}


def rtu_line_effect(seconds: float = 10.0, rate: float = 1000.0) -> dict[str, Any]:
    """The fast loop at 1 kHz on the four-device stand (DAQ and PLC over TCP) with its RS-485
    line polling two modules in their thread, against the same stand without the line: deadlines
    met over deadlines due, and lateness. Idle stand (SAFE), one run each, back to back."""
    text = find_stand("sim_tq12_devices").read_text()
    cut = text.index('[[devices]]\nname = "tc"')
    end = text.index("[loop]")
    no_line = text[:cut] + text[end:]
    for name in ("wall_temp", "mdot_ox", "mdot_fuel"):  # their devices are gone
        i = no_line.index(f'[[channels]]\nname = "{name}"')
        j = no_line.index("[[", i + 5)
        no_line = no_line[:i] + no_line[j:]
    no_line = no_line.replace('[[redlines]]\nname = "wall_temp"', '[[redlines]]\nname = "wall_temp_gone"')
    i = no_line.index('[[redlines]]\nname = "wall_temp_gone"')
    j = no_line.index("[", no_line.index("\n\n", i))
    no_line = no_line[:i] + no_line[j:]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as d:
        variants = {"with_rtu_line": find_stand("sim_tq12_devices"), "without_rtu_line": Path(d) / "no_line.toml"}
        Path(d, "no_line.toml").write_text(no_line.replace('name = "sim-tq12-devices"', 'name = "sim-tq12-no-line"'))
        for key, path in variants.items():
            from hil.stand import load_stand

            stand = load_stand(path)
            link = open_link(stand, str(path), "tcp")
            try:
                ctl = Controller(stand, link.transports, link.clock, rate_hz=rate)
                loop = ctl.loop
                s = timed_loop(loop, seconds)
                polls = {lk.name: lk.transport.stats.transactions for lk in loop.io.links}
                loop.shutdown("bench over")
            finally:
                link.close()
            out[key] = {**s, "transactions": polls}
    return out


def main() -> int:
    """Print both figures beside their targets and write bench/results/devices.json."""
    from hil.bench.common import write_json

    scaling = {}
    for latency in (0.0, 0.001):
        sc = scaling[f"latency_{latency * 1e3:g}ms"] = device_scaling(latency_s=latency)
        print(f"devices answering {latency * 1e3:g} ms after the request "
              f"({'CPU-bound: four server processes share this 2-core machine' if not latency else 'a PLC or DAQ on a LAN'})")
        print(f"  {'devices':<10}{'controller cycle µs':<22}{'sequential reads µs':<22}{'ratio to 1 device'}")
        for r in sc["rows"]:
            print(f"  {r['devices']:<10}{r['controller_cycle_us']:<22.0f}{r['sequential_reads_us']:<22.0f}"
                  f"{r['ratio_to_one_device']:.2f}")
        four = sc["rows"][-1]["ratio_to_one_device"]
        print(f"  4 devices cost {four:.2f}x one device (target ≤ 1.3x): {'ok' if four <= 1.3 else 'MISSED'}")
    line = rtu_line_effect()
    for k, v in line.items():
        print(f"{k:<18} deadlines met {100 * v['deadlines_met_share']:.2f} %  lateness p50 {v['lateness_p50_ms']:.3f} "
              f"p99 {v['lateness_p99_ms']:.3f} ms  ({v['achieved_hz']:.0f} Hz)")
    p = write_json("devices", {"scaling": scaling, "rtu_line": line})
    print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
