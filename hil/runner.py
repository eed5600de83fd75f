"""Headless runs (``hil run``): connect (or start a simulated stand), record, arm, run one
sequence to its end or its abort, safe the stand on every exit path, write the summary.

Exit codes (DESIGN.md): 0 completed, 1 invalid input (nothing ran), 2 aborted and safed
(reason in summary.json), 3 fault (communication or hardware; stand state uncertain).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from hil import __version__
from hil.catalog import find_sequence, find_stand, stand_for
from hil.children import announce
from hil.controller import Controller, new_recorder
from hil.errors import ConfigError, HilError, Refused, SequenceInvalid
from hil.links import open_link, with_engine
from hil.operator import OperatorDesk
from hil.record.runs import RunRecorder
from hil.record.summary import RunEvents, common_facts, controller_facts, stand_record, write_summary
from hil.safety import State
from hil.sequence import load_sequence
from hil.sequence.engine import RunState
from hil.stand import StandConfig, load_stand

EXIT_OK, EXIT_INVALID, EXIT_ABORTED, EXIT_FAULT = 0, 1, 2, 3


@dataclass
class RunOptions:
    """Everything ``hil run`` takes."""

    sequence: str  # a path, or the name of a shipped sequence
    stand: str | None = None  # a path or shipped name; None: the one the sequence names
    sim: str | None = None  # lockstep | tcp | rtu | None (the stand's own transport)
    out: str | None = None
    seed: int | None = None
    faults: tuple[str, ...] = ()
    progress: bool = True
    rate_hz: float | None = None
    max_seconds: float = 3600.0
    rt_priority: int | None = None  # SCHED_FIFO for the loop and a simulator child (hil/rt.py)
    on_cycle: Callable[[Controller], None] | None = None  # tests: inject actions mid-run
    auto_proceed: bool = False  # answer every prompt PROCEED (CI; logged as such)
    answers: TextIO | None = None  # where operator answers come from (default: the terminal, if any)
    extra_summary: dict[str, Any] = field(default_factory=dict)
    engine: tuple[tuple[str, float], ...] = ()  # simulated engine parameters replaced (lockstep only)
    noise_scale: float | None = None  # the simulated sensors' noise, times this


@dataclass
class RunResult:
    """What a run ended as."""

    exit_code: int
    run_dir: Path | None
    summary: dict[str, Any]


def _realtime(priority: int, link: Any, who: str, out: TextIO) -> bool:
    """SCHED_FIFO for this thread (hil/rt.py), said on ``out``; False (link closed, the reason
    printed) where the machine refuses it."""
    from hil.rt import set_realtime

    try:
        print(f"{who}: {set_realtime(priority)}", file=out, flush=True)
    except HilError as exc:
        print(f"error: {exc}", file=sys.stderr)
        link.close()
        return False
    return True


def _run_dir(opts: RunOptions, seq_name: str) -> Path:
    if opts.out:
        return Path(opts.out)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Path("runs") / f"{stamp}_{Path(seq_name).stem}"


def run(opts: RunOptions, out: TextIO = sys.stdout) -> RunResult:
    """Run a sequence headless. Never raises for bad input or a bad day at the stand: it
    returns the exit code, and the stand ends safe whatever happened."""
    try:
        seq_path = find_sequence(opts.sequence)
        stand_path = find_stand(opts.stand) if opts.stand else stand_for(seq_path)
        stand = with_engine(load_stand(stand_path), opts.sim, opts.engine, opts.noise_scale)
        seq = load_sequence(seq_path, stand)
        from firmware_sim.faults import check_for_stand, parse_fault  # validates specs before anything starts

        faults = [parse_fault(f) for f in opts.faults]
        check_for_stand(faults, stand)
    except SequenceInvalid as exc:
        for e in exc.errors:
            print(f"error: {e}", file=sys.stderr)
        return RunResult(EXIT_INVALID, None, {})
    except HilError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return RunResult(EXIT_INVALID, None, {})
    if faults and opts.sim is None:
        print("error: --fault needs --sim (faults are injected into the simulated stand)", file=sys.stderr)
        return RunResult(EXIT_INVALID, None, {})
    answers = opts.answers if opts.answers is not None else (sys.stdin if sys.stdin.isatty() else None)
    if seq.prompts and answers is None and not opts.auto_proceed:
        lines = ", ".join(str(p.line) for p in seq.prompts)
        print(f"error: {seq_path}: the sequence asks the operator {len(seq.prompts)} question(s) (prompts at line(s) "
              f"{lines}) and there is no terminal to answer on; run it from a terminal, from the console, or with "
              f"--auto-proceed to answer PROCEED to each (logged)", file=sys.stderr)
        return RunResult(EXIT_INVALID, None, {})
    operator = OperatorDesk(answers, out, opts.auto_proceed) if seq.prompts or answers is not None else None

    run_dir = _run_dir(opts, str(seq_path))
    try:
        link = open_link(stand, str(stand_path), opts.sim, seed=opts.seed, faults=tuple(faults),
                         rt_priority=opts.rt_priority)
    except ValueError:
        print(f"error: --sim must be lockstep, tcp or rtu, not {opts.sim!r}", file=sys.stderr)
        return RunResult(EXIT_INVALID, None, {})
    except HilError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return RunResult(EXIT_FAULT, None, {})
    transport, clock, firmware = link.transport, link.clock, link.firmware
    transports = link.transports
    if link.child is not None:
        print(f"hil run: simulator serving {link.child.ready}", file=out, flush=True)

    if opts.rt_priority and not _realtime(opts.rt_priority, link, "hil run", out):
        return RunResult(EXIT_INVALID, None, {})
    recorder = new_recorder(run_dir, stand)
    inputs = {"stand": recorder.copy_input(stand_path), "sequence": recorder.copy_input(seq_path)}
    if stand.zero:  # the offsets this run used (hil checkout zero), beside the stand they belong to
        recorder.copy_input(stand.zero["path"])
    ctl = Controller(stand, transports, clock, recorder=recorder, rate_hz=opts.rate_hz)
    events = RunEvents()  # the outcome comes from the run's own events (hil/record/summary.py)
    ctl.events.add_listener(events)
    loop = ctl.loop
    started_wall = time.time()
    interrupted = False
    outcome_note = ""
    try:
        loop.start()
        loop.event(0.0, "run_start", sequence=seq.name, stand=stand.name, sim=opts.sim,
                   faults=[f.spec() for f in faults], version=__version__)
        # warm up: fresh sensors and a live link before anything is armed
        while loop.t < 2.0 and (loop.cycle < 20 or ctl.warming_up()):
            loop.step()
        ctl.load(seq_path)
        settle = loop.t + 1.0  # the loop stood still while the sequence loaded: fresh readings again
        while loop.t < settle and ctl.warming_up():
            loop.step()
        try:
            ctl.arm()
            ctl.start()
        except Refused as exc:
            outcome_note = f"not started: {exc}"
            print(f"hil run: {outcome_note}", file=sys.stderr)
        last_print = -1.0
        t_limit = loop.t + opts.max_seconds
        while ctl.sequencer.state == RunState.RUNNING or loop.supervisor.state == State.ABORTING:
            try:
                loop.step()
                if opts.on_cycle:
                    opts.on_cycle(ctl)
                if operator is not None:
                    operator.serve(ctl)
            except KeyboardInterrupt:
                interrupted = True
                ctl.abort("operator interrupt (Ctrl-C)", source="operator")
            if opts.progress and loop.t - last_print >= 0.5:
                last_print = loop.t
                _progress(ctl, out)
            if loop.t > t_limit:
                ctl.abort(f"run exceeded {opts.max_seconds:g} s", source="runner")
                t_limit = float("inf")
        # every exit path: let the safing routine finish on the live loop
        loop.shutdown("run ended")
    except KeyboardInterrupt:
        interrupted = True
        ctl.abort("operator interrupt (Ctrl-C)", source="operator")
        loop.shutdown("operator interrupt")
    except Exception as exc:  # a bug must still leave the stand safe and the data on disk
        loop.event(loop.t, "exception", error=repr(exc))
        loop.supervisor.fault(loop.t, f"controller error: {exc!r}")
        loop.shutdown("controller error")
        outcome_note = f"controller error: {exc!r}"
        raise
    finally:
        if operator is not None:
            operator.close()
        sim_out = link.close()
        facts = controller_facts(ctl, events.events)
        if interrupted and facts["outcome"] == "completed" or outcome_note and facts["outcome"] != "fault":
            facts["outcome"] = "aborted"
            facts["abort_reason"] = facts["abort_reason"] or outcome_note or "operator interrupt (Ctrl-C)"
        summary = {
            **facts,
            "transport": {"kind": transport.name, **dataclasses.asdict(transport.stats)},
            **({"devices": {n: {"kind": t.name, **dataclasses.asdict(t.stats)} for n, t in transports.items()}}
               if len(transports) > 1 else {}),
            "sequence": {"name": seq.name, **inputs["sequence"]},
            "stand": stand_record(stand, inputs["stand"]),
            "sim": opts.sim, "seed": opts.seed, "faults": [f.spec() for f in faults],
            **({"engine": dict(stand.sim.overrides), "noise_scale": stand.sim.noise_scale}
               if stand.sim is not None and (stand.sim.overrides or stand.sim.noise_scale != 1.0) else {}),
            **common_facts(started_wall),
            **({"firmware": _plant_truth(firmware)} if firmware else {}),
            **opts.extra_summary,
        }
        if sim_out:
            summary["sim_log"] = sim_out.strip().splitlines()[-1:]
            from firmware_sim.lateness import simulator_block  # the simulator's own lateness, its verdict

            simulator_block(summary, sim_out, min(d.link.timeout_s for d in stand.devices))
        failed = write_summary(recorder, stand, summary)
        if failed is not None:
            print(f"error: the recording did not close cleanly: {failed} (said in summary.json)", file=sys.stderr)
    outcome = summary["outcome"]
    code = {"completed": EXIT_OK, "aborted": EXIT_ABORTED}.get(outcome, EXIT_FAULT)
    if opts.progress:
        print(f"hil run: {outcome}" + (f" ({summary['abort_reason']})" if summary["abort_reason"] else "")
              + f"; {len(summary.get('burns', []))} burn(s); data in {run_dir}", file=out, flush=True)
    return RunResult(code, run_dir, summary)


def _plant_truth(firmware: Any) -> dict[str, Any]:
    """Lockstep only: what the simulated stand really ended as (tests check 'safe' on it)."""
    firmware.advance(0.5)  # let the last commands and any firmware safing take effect
    e = firmware.engine
    shut_ox = e.pos_ox == 0 or e.pos_ox_iso == 0  # main valve or the isolation valve upstream of it
    shut_fuel = e.pos_fuel == 0 or e.pos_fuel_iso == 0
    return {"ignitions": e.ignitions, "peak_pc_mpa": round(e.peak_pc / 1e6, 4), "state": int(firmware.state),
            "trips": firmware.trips, "burning": e.burning, "pos_ox": e.pos_ox, "pos_fuel": e.pos_fuel,
            "pos_gg": e.pos_gg, "pos_ox_iso": e.pos_ox_iso, "pos_fuel_iso": e.pos_fuel_iso,
            "pc_mpa": round(e.pc / 1e6, 4), "mdot_ox": e.mdot_ox, "mdot_fuel": e.mdot_fuel,
            "valves_closed": shut_ox and shut_fuel, "hard_start_trip": firmware.hard_start.report()}


def _progress(ctl: Controller, out: TextIO) -> None:
    loop, seq = ctl.loop, ctl.sequencer
    tseq = seq.seq_t if seq.state == RunState.RUNNING else None
    step = seq.current.label or seq.current.describe() if seq.current else "-"
    pc = loop.cs.pc
    sp = loop.cs.pc_setpoint
    print(f"  t={loop.t:8.3f}  " + (f"T{tseq:+7.2f}  " if tseq is not None else "T   --    "), end="", file=out)
    print(f"{loop.supervisor.state.name:<8} Pc {pc:6.2f} MPa" + (f" (cmd {sp:5.2f})" if sp == sp else "            ")
          + f"  {step[:48]}", file=out, flush=True)


def check(sequence: str, stand_ref: str | None, out: TextIO = sys.stdout) -> int:
    """``hil check``: validate and print the timeline; 0 valid, 1 invalid."""
    stand_path: str | Path = stand_ref or "?"
    try:
        seq_path = find_sequence(sequence)
        stand_path = find_stand(stand_ref) if stand_ref else stand_for(seq_path)
        stand: StandConfig = load_stand(stand_path)
        seq = load_sequence(seq_path, stand)
    except SequenceInvalid as exc:
        for e in exc.errors:
            print(f"error: {e}", file=out)
        print(f"{len(exc.errors)} error(s): {sequence} is not valid for {stand_path}", file=out)
        return EXIT_INVALID
    except ConfigError as exc:
        print(f"error: {exc}", file=out)
        return EXIT_INVALID
    print(f"{seq.name} — {seq.description}" if seq.description else seq.name, file=out)
    print(f"stand {stand.name}; {len(seq.steps)} steps; T{seq.start_time:+g} to T{seq.end_time:+g} s nominal "
          f"(waits may extend it)", file=out)
    for i, s in enumerate(seq.steps):
        where = f"line {s.line}" if s.line else ""
        origin = f"  [{s.origin}]" if s.origin else ""
        label = f"  — {s.label}" if s.label else ""
        print(f"  {i:3d}  T{s.at:+8.3f}  {s.describe()}{label}   ({where}){origin}", file=out)
    from hil.sequence.burns import burn_windows

    windows = burn_windows(seq, stand)  # both chamber propellants open: a burn, unless a cold flow
    spans = ", ".join(f"T{a.at:+g}→" + (f"T{b.at:+g}" if b else "end") for a, b in windows)
    if seq.requires_ignition:
        print(f"{len(windows)} burn(s): {spans}", file=out)
    else:
        print(f"0 burn(s) (cold flow; propellants open {spans or 'never'})", file=out)
    if len(stand.devices) > 1:
        from hil.stand.device_tables import line_plan, line_quiet_plan

        rates = ", ".join(f"{d.name} ({d.link.kind}, {f'{d.rate_hz:g} Hz' if d.rate_hz else 'every cycle'}"
                          f"{'' if d.critical else ', non-critical'})" for d in stand.devices)
        print(f"devices: {rates}", file=out)
        for serial, (share, terms) in line_plan(list(stand.devices), list(stand.channels), list(stand.actuators),
                                                stand.loop).items():
            print(f"serial line {serial}: {100 * share:.0f} % of its wire time ({'; '.join(terms)})", file=out)
        for serial, rules in line_quiet_plan(list(stand.devices), list(stand.channels)).items():
            print(f"serial line {serial}: after a timeout nothing is sent until it has been quiet for "
                  f"{'; '.join(rules)}; answers that do not match their request are dropped and counted", file=out)
    print("OK (dry run: nothing was commanded)", file=out)
    return EXIT_OK


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
    import signal

    import zmq

    from hil.service.auth import check_bind, load_server_keys
    from hil.service.server import Service

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
    if opts.rt_priority and not _realtime(opts.rt_priority, link, "hil serve", out):
        return EXIT_INVALID
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    run_dir = Path(opts.out) if opts.out else Path("runs") / f"{stamp}_serve_{stand.name}"
    session = new_recorder(run_dir, stand)
    session.copy_input(stand_path)
    recorder = RunRecorder(session, opts.runs or run_dir.parent, stand, stand_path)
    try:
        ctl = Controller(stand, link.transports, link.clock, recorder=recorder, rate_hz=opts.rate_hz,
                         link=lambda c: Service(c, rep=opts.rep, pub=opts.pub, keys=keys), stand_path=stand_path)
        recorder.attach(ctl)
    except (HilError, zmq.ZMQError) as exc:  # address in use
        print(f"error: cannot bind the service: {exc}", file=sys.stderr)
        recorder.close()
        link.close()
        return EXIT_INVALID
    svc = ctl.loop.link
    assert isinstance(svc, Service)
    stop = {"now": False}

    def on_signal(signum: int, frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    loop = ctl.loop
    print(f"hil serve: {stand.name} commands on {svc.rep_endpoint}, telemetry on {svc.pub_endpoint}, "
          f"recording to {run_dir}" + (f"; simulator: {link.child.ready}" if link.child else "")
          + ("; CURVE authentication: authorised clients only" if keys else ""), file=out, flush=True)
    announce(kind="serve", stand=stand.name, rep=svc.rep_endpoint, pub=svc.pub_endpoint, run_dir=str(run_dir),
             authenticated=keys is not None)
    try:
        loop.start()
        while not (stop["now"] or loop.stop_requested):
            loop.step()
        loop.shutdown("service stopping")
    finally:
        svc.close()
        summary = {"outcome": "service stopped", "final_state": loop.supervisor.state.name,
                   "abort_reason": loop.supervisor.abort_reason or None, "fault_reason": loop.supervisor.fault_reason
                   or None, "loop": loop.stats.summary(), "stand": {"name": stand.name}}
        recorder.close(summary)
        link.close()
    print(f"hil serve: stopped; session log in {run_dir}" + (f", {len(recorder.run_dirs)} run(s): "
          + ", ".join(str(p) for p in recorder.run_dirs) if recorder.run_dirs else ""), file=out, flush=True)
    return EXIT_FAULT if loop.supervisor.fault_reason else EXIT_OK
