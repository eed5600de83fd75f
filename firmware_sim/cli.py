"""``hil sim``: run the simulated stand in real time behind Modbus TCP and/or RTU."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from firmware_sim.faults import parse_fault
from firmware_sim.firmware import Firmware
from firmware_sim.lateness import report_line
from firmware_sim.server import Endpoint, quiet_pymodbus, serve
from hil.catalog import find_stand
from hil.children import announce
from hil.stand import StandConfig, load_stand


def run_sim(args: argparse.Namespace) -> int:
    """Load, validate, serve until SIGINT/SIGTERM. Returns the process exit code."""
    stand = load_stand(find_stand(args.stand))
    if stand.sim is None:
        print(f"hil sim: error: {stand.path}: not a simulated stand (it has no [sim] table)", file=sys.stderr)
        return 1
    sim = stand.sim
    faults = [parse_fault(s) for s in args.fault]
    firmware = Firmware(stand, seed=args.seed, faults=faults)
    try:
        endpoints = device_endpoints(stand, args) if len(stand.devices) > 1 else single_endpoints(stand, args)
    except ValueError as exc:
        print(f"hil sim: error: {stand.path}: {exc}", file=sys.stderr)
        return 1
    unit = stand.transport.unit if args.unit is None else args.unit
    quiet_pymodbus()
    if getattr(args, "rt_priority", None):
        from hil.errors import HilError
        from hil.rt import set_realtime

        try:
            set_realtime(args.rt_priority)
        except HilError as exc:
            print(f"hil sim: error: {exc}", file=sys.stderr)
            return 1
    # The scan thread and the Modbus server share one interpreter: with the default 5 ms GIL
    # switch interval a request can wait milliseconds behind a scan (or the reverse).
    sys.setswitchinterval(0.0002)

    def ready(bound: list[Endpoint]) -> None:
        where = ", ".join((f"Modbus TCP on {e.address}:{e.number}" if e.kind == "tcp" else
                           f"Modbus RTU on {e.address} at {e.number} baud{' (paced)' if e.pace else ''}")
                          + (f" ({', '.join(e.devices)})" if len(stand.devices) > 1 else "") for e in bound)
        print(f"hil sim: {stand.name} ({sim.engine} engine, seed {firmware.seed}) serving {where}"
              + (f", unit {unit}" if len(stand.devices) == 1 else ""), flush=True)
        for f in faults:
            print(f"hil sim: fault scheduled: {f.spec()}", flush=True)
        devices = {n: f"{e.address}:{e.number}" if e.kind == "tcp" else e.address for e in bound for n in e.devices}
        announce(kind="sim", stand=stand.name, unit=unit, devices=devices,
                 **{e.kind: f"{e.address}:{e.number}" if e.kind == "tcp" else e.address for e in reversed(bound)})

    async def status(stop: asyncio.Event) -> None:
        while not stop.is_set():
            with firmware.lock:
                e = firmware.engine
                line = (f"t={firmware.t:8.2f} s  firmware {firmware.state.name:<6}  Pc {e.pc / 1e6:6.2f} MPa  "
                        f"thrust {e.thrust / 1e3:8.1f} kN  {'BURNING' if e.burning else 'no flame'}  "
                        f"late: scans {firmware.scan_lateness.max_ms:.1f} ms max")
            print(line, flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.status)

    async def main() -> dict[str, float]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if args.status:
            loop.create_task(status(stop))
        return await serve(firmware, endpoints, stop, on_ready=ready,
                           unit=args.unit if len(stand.devices) == 1 else None)

    try:
        stats = asyncio.run(main())
    except RuntimeError as exc:
        print(f"hil sim: error: cannot serve {', '.join(f'{e.address}:{e.number}' for e in endpoints)}: {exc}",
              file=sys.stderr)
        return 1
    print(report_line(stats), flush=True)
    print(f"hil sim: stopped at t={firmware.t:.3f} s after {firmware.scans} scans, "
          f"{int(stats.get('requests', 0))} requests, {int(stats.get('late_scans', 0))} late scans "
          f"(scans up to {stats.get('scan_late_max_ms', 0.0):.1f} ms late, answers up to "
          f"{stats.get('answer_late_max_ms', 0.0):.1f} ms)", flush=True)
    return 0


def single_endpoints(stand: StandConfig, args: argparse.Namespace) -> list[Endpoint]:
    """A single-device stand: on TCP (the stand's address, or --tcp) and/or RTU (--rtu)."""
    name = stand.devices[0].name
    endpoints: list[Endpoint] = []
    if args.tcp or not args.rtu:
        host, port = args.tcp or ((stand.transport.host, stand.transport.port) if stand.transport.kind == "tcp"
                                  else ("127.0.0.1", 5020))
        endpoints.append(Endpoint("tcp", host, port, (name,)))
    if args.rtu:
        endpoints.append(Endpoint("rtu", args.rtu, args.baud, (name,), pace=not args.no_pace))
    return endpoints


def device_endpoints(stand: StandConfig, args: argparse.Namespace) -> list[Endpoint]:
    """A stand of several devices, served as its file declares: each TCP device on its own
    server (its configured address, or --tcp HOST:0 for ephemeral ports), each serial line with
    all its units on one RTU server (its configured path, or the PATH of --line SERIAL=PATH)."""
    paths = {}
    for item in args.line:
        serial, sep, path = item.partition("=")
        if not sep or not path:
            raise ValueError(f"--line {item!r}: expected SERIAL=PATH")
        paths[serial] = path
    endpoints: list[Endpoint] = []
    lines: dict[str, list[str]] = {}
    for d in stand.devices:
        if d.serial:
            lines.setdefault(d.serial, []).append(d.name)
        else:
            host, port = (args.tcp[0], 0) if args.tcp else (d.link.host, d.link.port)
            endpoints.append(Endpoint("tcp", host, port, (d.name,)))
    unknown = set(paths) - set(lines)
    if unknown:
        raise ValueError(f"--line names no serial line of the stand: {', '.join(sorted(unknown))}")
    for serial, names in lines.items():
        endpoints.append(Endpoint("rtu", paths.get(serial, serial), stand.device(names[0]).link.baud, tuple(names),
                                  pace=not args.no_pace))
    return endpoints
