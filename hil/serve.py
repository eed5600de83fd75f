"""``hil serve``: the controller as a long-lived service for consoles — the loop cycling until a
client sends ``stop`` or the process gets SIGINT/SIGTERM, commands and telemetry over ZeroMQ
(hil/service/), the whole session recorded with a directory per run (hil/record/runs.py) and
checkouts on a desk of their own (hil/checkout/desk.py). Exit codes: hil/exits.py.
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import zmq

from hil.catalog import find_stand
from hil.checkout.desk import CheckoutDesk
from hil.children import announce
from hil.controller import Controller
from hil.errors import HilError
from hil.exits import EXIT_FAULT, EXIT_INVALID, EXIT_OK
from hil.links import open_link
from hil.record.recorder import new_recorder
from hil.record.runs import RunRecorder
from hil.rt import realtime_or_close
from hil.service.auth import check_bind, load_server_keys
from hil.service.server import Service
from hil.stand import load_stand


@dataclass
class ServeOptions:
    """Everything ``hil serve`` takes."""

    stand: str
    sim: str | None = None  # tcp | rtu | None
    rep: str = "tcp://127.0.0.1:5556"
    pub: str = "tcp://127.0.0.1:5557"
    out: str | None = None
    seed: int | None = None
    faults: tuple[str, ...] = ()
    rate_hz: float | None = None
    keys: str | None = None  # CURVE key directory (hil keys); required for a network-facing bind
    rt_priority: int | None = None  # SCHED_FIFO for the loop and a simulator child (hil/rt.py)
    runs: str | None = None  # where each run's directory goes (default: beside the session's)


def serve(opts: ServeOptions, out: TextIO = sys.stdout) -> int:
    """Run the controller as a service until a client sends ``stop`` or SIGINT/SIGTERM.

    Records the whole session continuously into one directory and each run (ARM to SAFE) into a
    run directory of its own (hil/record/runs.py). If the process is told to stop while the
    stand is not safe, it aborts and runs the safing sequence before exiting.
    """
    try:
        stand_path = find_stand(opts.stand)
        stand = load_stand(stand_path)
        from firmware_sim.faults import check_for_stand, parse_fault

        faults = tuple(parse_fault(f) for f in opts.faults)
        check_for_stand(faults, stand)
        keys = load_server_keys(opts.keys) if opts.keys else None
        check_bind(opts.rep, keys)  # before anything starts: a refused bind must not leave a simulator behind
        check_bind(opts.pub, keys)
    except HilError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if opts.sim not in (None, "tcp", "rtu"):
        print(f"error: hil serve --sim must be tcp or rtu, not {opts.sim!r}", file=sys.stderr)
        return EXIT_INVALID
    try:
        link = open_link(stand, str(stand_path), opts.sim, seed=opts.seed, faults=faults, rt_priority=opts.rt_priority)
    except HilError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAULT
    # before the recorder, the line threads and the service's sockets start: each helper thread
    # puts itself back at normal priority; zmq's I/O threads are mostly asleep
    if opts.rt_priority and not realtime_or_close(opts.rt_priority, link, "hil serve", out):
        return EXIT_INVALID
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    run_dir = Path(opts.out) if opts.out else Path("runs") / f"{stamp}_serve_{stand.name}"
    session = new_recorder(run_dir, stand)
    session.copy_input(stand_path)
    made: dict[str, Any] = {}  # what the controller made at its construction, kept to close it

    def run_recorder(door: Controller) -> RunRecorder:
        made["recorder"] = RunRecorder(session, opts.runs or run_dir.parent, stand, stand_path, door)
        return made["recorder"]

    def service(door: Controller) -> Service:
        made["service"] = Service(door, rep=opts.rep, pub=opts.pub, keys=keys)
        return made["service"]

    try:
        ctl = Controller(stand, link.transports, link.clock, run_recorder=run_recorder, rate_hz=opts.rate_hz,
                         link=service, stand_path=stand_path,
                         checkout=lambda door: CheckoutDesk(door, records=made["recorder"]))
    except (HilError, zmq.ZMQError) as exc:  # address in use
        print(f"error: cannot bind the service: {exc}", file=sys.stderr)
        session.close()
        link.close()
        return EXIT_INVALID
    recorder: RunRecorder = made["recorder"]
    svc: Service = made["service"]
    stop = {"now": False}

    def on_signal(signum: int, frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"hil serve: {stand.name} commands on {svc.rep_endpoint}, telemetry on {svc.pub_endpoint}, "
          f"recording to {run_dir}" + (f"; simulator: {link.child.ready}" if link.child else "")
          + ("; CURVE authentication: authorised clients only" if keys else ""), file=out, flush=True)
    announce(kind="serve", stand=stand.name, rep=svc.rep_endpoint, pub=svc.pub_endpoint, run_dir=str(run_dir),
             authenticated=keys is not None)
    try:
        ctl.begin()
        while not (stop["now"] or ctl.stop_requested):
            ctl.step()
        ctl.shutdown("service stopping")
    except Exception as exc:  # a bug must still leave the stand safe and the data on disk
        ctl.event("exception", error=repr(exc))
        ctl.fault(f"controller error: {exc!r}")
        ctl.shutdown("controller error")
        raise
    finally:
        svc.close()
        end = ctl.snapshot(detail=False, loop_summary=True)
        summary = {"outcome": "service stopped", "final_state": end.state.name,
                   "abort_reason": end.abort_reason or None, "fault_reason": end.fault_reason or None,
                   "loop": dict(end.loop.summary or {}), "stand": {"name": stand.name}}
        recorder.close(summary)
        link.close()
    print(f"hil serve: stopped; session log in {run_dir}" + (f", {len(recorder.run_dirs)} run(s): "
          + ", ".join(str(p) for p in recorder.run_dirs) if recorder.run_dirs else ""), file=out, flush=True)
    return EXIT_FAULT if end.fault_reason else EXIT_OK
