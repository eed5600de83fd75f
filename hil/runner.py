"""Headless runs (``hil run``): connect (or start a simulated stand), record, arm, run one
sequence to its end or its abort, safe the stand on every exit path, write the summary.

:func:`run` reads as its steps: check the inputs (:func:`_inputs`), connect
(:func:`_connect`), drive the controller through warm-up, load, ARM, START and the sequence to
its end (:func:`_drive`), then write the summary whatever happened (:func:`_summary`). What the
simulated plant really ended as comes from the simulator itself (firmware_sim/truth.py).

Exit codes (hil/exits.py, DESIGN.md): 0 completed, 1 invalid input (nothing ran), 2 aborted and
safed (reason in summary.json), 3 fault (communication or hardware; stand state uncertain).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from hil import __version__
from hil.catalog import find_sequence, find_stand, stand_for
from hil.controller import Controller
from hil.controller.snapshot import Snapshot
from hil.errors import HilError, Refused, SequenceInvalid
from hil.exits import EXIT_ABORTED, EXIT_FAULT, EXIT_INVALID, EXIT_OK
from hil.links import Link, open_link, with_engine
from hil.operator import OperatorDesk
from hil.record.recorder import Recorder, new_recorder
from hil.record.summary import RunEvents, common_facts, controller_facts, stand_record, write_summary
from hil.rt import realtime_or_close
from hil.safety import State
from hil.sequence import Sequence, load_sequence
from hil.stand import StandConfig, load_stand

if TYPE_CHECKING:
    from firmware_sim.faults import Fault

__all__ = ["EXIT_ABORTED", "EXIT_FAULT", "EXIT_INVALID", "EXIT_OK", "RunOptions", "RunResult", "run"]


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


@dataclass
class _Inputs:
    """A run's checked inputs: nothing has been connected or started yet."""

    seq_path: Path
    stand_path: Path
    stand: StandConfig
    seq: Sequence
    faults: list[Fault]
    operator: OperatorDesk | None


@dataclass
class _Ending:
    """How the driving ended, beside what the run's events say."""

    interrupted: bool = False  # Ctrl-C
    note: str = ""  # not started, or a controller error


class RunWatch:
    """Whether the run is still going, from the controller's events (a bus listener): its
    sequence is running (between ``sequence_start`` and ``sequence_stopped`` / ``sequence_done``)
    or the stand is still ABORTING. Costs nothing per cycle."""

    def __init__(self) -> None:
        self.running = False
        self.state = State.SAFE.name

    def __call__(self, t: float, kind: str, fields: dict[str, Any]) -> None:
        if kind == "sequence_start":
            self.running = True
        elif kind in ("sequence_stopped", "sequence_done"):
            self.running = False
        elif kind == "state":
            self.state = str(fields["to"])

    def going(self) -> bool:
        return self.running or self.state == State.ABORTING.name


def run(opts: RunOptions, out: TextIO = sys.stdout) -> RunResult:
    """Run a sequence headless. Never raises for bad input or a bad day at the stand: it
    returns the exit code, and the stand ends safe whatever happened."""
    inputs = _inputs(opts, out)
    if isinstance(inputs, RunResult):
        return inputs
    link = _connect(opts, inputs, out)
    if isinstance(link, RunResult):
        return link
    run_dir = _run_dir(opts, str(inputs.seq_path))
    recorder = new_recorder(run_dir, inputs.stand)
    copies = {"stand": recorder.copy_input(inputs.stand_path), "sequence": recorder.copy_input(inputs.seq_path)}
    if inputs.stand.zero:  # the offsets this run used (hil checkout zero), beside the stand they belong to
        recorder.copy_input(inputs.stand.zero["path"])
    ctl = Controller(inputs.stand, link.transports, link.clock, recorder=recorder, rate_hz=opts.rate_hz)
    events = RunEvents()  # the outcome comes from the run's own events (hil/record/summary.py)
    ctl.add_listener(events)
    started_wall = time.time()
    ending = _Ending()
    try:
        _drive(ctl, opts, inputs, ending, out)
    finally:
        if inputs.operator is not None:
            inputs.operator.close()
        summary = _summary(ctl, opts, inputs, link, recorder, events, copies, started_wall, ending)
    outcome = summary["outcome"]
    code = {"completed": EXIT_OK, "aborted": EXIT_ABORTED}.get(outcome, EXIT_FAULT)
    if opts.progress:
        print(f"hil run: {outcome}" + (f" ({summary['abort_reason']})" if summary["abort_reason"] else "")
              + f"; {len(summary.get('burns', []))} burn(s); data in {run_dir}", file=out, flush=True)
    return RunResult(code, run_dir, summary)


def _inputs(opts: RunOptions, out: TextIO) -> _Inputs | RunResult:
    """The sequence and stand loaded and checked, the fault specs parsed, the operator found:
    every way the input is bad is said here, before anything is connected."""
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
    return _Inputs(seq_path, stand_path, stand, seq, faults, operator)


def _connect(opts: RunOptions, inputs: _Inputs, out: TextIO) -> Link | RunResult:
    """The stand's links (or a simulated stand's), at real-time priority when asked."""
    try:
        link = open_link(inputs.stand, str(inputs.stand_path), opts.sim, seed=opts.seed, faults=tuple(inputs.faults),
                         rt_priority=opts.rt_priority)
    except ValueError:
        print(f"error: --sim must be lockstep, tcp or rtu, not {opts.sim!r}", file=sys.stderr)
        return RunResult(EXIT_INVALID, None, {})
    except HilError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return RunResult(EXIT_FAULT, None, {})
    if link.child is not None:
        print(f"hil run: simulator serving {link.child.ready}", file=out, flush=True)
    if opts.rt_priority and not realtime_or_close(opts.rt_priority, link, "hil run", out):
        return RunResult(EXIT_INVALID, None, {})
    return link


def _run_dir(opts: RunOptions, seq_name: str) -> Path:
    if opts.out:
        return Path(opts.out)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Path("runs") / f"{stamp}_{Path(seq_name).stem}"


def _drive(ctl: Controller, opts: RunOptions, inputs: _Inputs, ending: _Ending, out: TextIO) -> None:
    """Warm up, load, ARM, START, cycle until the sequence ends and the stand is safe; on every
    exit path the safing routine finishes on the live loop. A bug is raised after that."""
    try:
        ctl.begin()
        ctl.event("run_start", sequence=inputs.seq.name, stand=inputs.stand.name, sim=opts.sim,
                  faults=[f.spec() for f in inputs.faults], version=__version__)
        # warm up: fresh sensors and a live link before anything is armed
        snap = ctl.snapshot(detail=False)
        t, cycles = snap.t, snap.cycle
        while t < 2.0 and (cycles < 20 or ctl.warming_up()):
            t, cycles = ctl.step(), cycles + 1
        ctl.load(inputs.seq_path)
        t = ctl.snapshot(detail=False).t
        settle = t + 1.0  # the loop stood still while the sequence loaded: fresh readings again
        while t < settle and ctl.warming_up():
            t = ctl.step()
        try:
            ctl.arm()
            ctl.start()
        except Refused as exc:
            ending.note = f"not started: {exc}"
            print(f"hil run: {ending.note}", file=sys.stderr)
        _sequence(ctl, opts, inputs.operator, ending, out)
        ctl.shutdown("run ended")
    except KeyboardInterrupt:
        ending.interrupted = True
        ctl.abort("operator interrupt (Ctrl-C)", source="operator")
        ctl.shutdown("operator interrupt")
    except Exception as exc:  # a bug must still leave the stand safe and the data on disk
        ctl.event("exception", error=repr(exc))
        ctl.fault(f"controller error: {exc!r}")
        ctl.shutdown("controller error")
        ending.note = f"controller error: {exc!r}"
        raise


def _sequence(ctl: Controller, opts: RunOptions, operator: OperatorDesk | None, ending: _Ending,
              out: TextIO) -> None:
    """Cycle while the sequence runs or the stand is still aborting; the operator at the terminal
    answered, progress printed, the run's time limit kept."""
    watch = RunWatch()
    ctl.add_listener(watch)
    snap = ctl.snapshot(detail=False)  # the run as it is when the watch starts listening
    watch.running, watch.state = snap.running, snap.state.name
    last_print = -1.0
    t = snap.t
    t_limit = t + opts.max_seconds
    while watch.going():
        try:
            t = ctl.step()
            if opts.on_cycle:
                opts.on_cycle(ctl)
            if operator is not None:
                operator.serve(ctl)
        except KeyboardInterrupt:
            ending.interrupted = True
            ctl.abort("operator interrupt (Ctrl-C)", source="operator")
        if opts.progress and t - last_print >= 0.5:
            last_print = t
            _progress(ctl.snapshot(detail=False), out)
        if t > t_limit:
            ctl.abort(f"run exceeded {opts.max_seconds:g} s", source="runner")
            t_limit = float("inf")


def _summary(ctl: Controller, opts: RunOptions, inputs: _Inputs, link: Link, recorder: Recorder, events: RunEvents,
             copies: dict[str, dict[str, str]], started_wall: float, ending: _Ending) -> dict[str, Any]:
    """Close the link, then write summary.json (hil/record/summary.py): the outcome from the run's
    events, the links' counters, the inputs, and the simulated plant's own truth."""
    stand, transports = inputs.stand, link.transports
    sim_out = link.close()
    facts = controller_facts(ctl.snapshot(loop_summary=True), events.events)
    truth = None
    if link.firmware is not None:
        from firmware_sim.truth import plant_truth

        truth = plant_truth(link.firmware)  # lockstep: what the simulated stand really ended as
    if ending.interrupted and facts["outcome"] == "completed" or ending.note and facts["outcome"] != "fault":
        facts["outcome"] = "aborted"
        facts["abort_reason"] = facts["abort_reason"] or ending.note or "operator interrupt (Ctrl-C)"
    summary = {
        **facts,
        "transport": {"kind": link.transport.name, **dataclasses.asdict(link.transport.stats)},
        **({"devices": {n: {"kind": t.name, **dataclasses.asdict(t.stats)} for n, t in transports.items()}}
           if len(transports) > 1 else {}),
        "sequence": {"name": inputs.seq.name, **copies["sequence"]},
        "stand": stand_record(stand, copies["stand"]),
        "sim": opts.sim, "seed": opts.seed, "faults": [f.spec() for f in inputs.faults],
        **({"engine": dict(stand.sim.overrides), "noise_scale": stand.sim.noise_scale}
           if stand.sim is not None and (stand.sim.overrides or stand.sim.noise_scale != 1.0) else {}),
        **common_facts(started_wall),
        **({"firmware": truth.as_summary()} if truth is not None else {}),
        **opts.extra_summary,
    }
    if sim_out:
        summary["sim_log"] = sim_out.strip().splitlines()[-1:]
        from firmware_sim.lateness import simulator_block  # the simulator's own lateness, its verdict

        simulator_block(summary, sim_out, min(d.link.timeout_s for d in stand.devices))
    if link.child is not None and (wires := link.child.wires()):
        _wire_block(summary, wires, min((t.timeout_s for t in transports.values()
                                         if t.name == "rtu"), default=min(d.link.timeout_s for d in stand.devices)))
    failed = write_summary(recorder, stand, summary)
    if failed is not None:
        print(f"error: the recording did not close cleanly: {failed} (said in summary.json)", file=sys.stderr)
    return summary


def _wire_block(summary: dict[str, Any], wires: dict[str, dict[str, Any]], timeout_s: float) -> None:
    """The simulated serial lines as ``summary["simulator"]["wires"]``; a run that did not
    complete while a line stalled says so in its reason, as for the simulator's own lateness."""
    from hil.ptypair import stalled

    note = stalled(wires, timeout_s)
    summary.setdefault("simulator", {})["wires"] = wires
    if note:
        summary["simulator"]["wire_note"] = note
    if note and summary.get("outcome") != "completed":
        for key in ("abort_reason", "fault_reason"):
            if summary.get(key):
                summary[key] = f"{summary[key]} [{note}]"


def _progress(snap: Snapshot, out: TextIO) -> None:
    tseq = snap.t_seq
    step = snap.step_text or "-"
    pc, sp = snap.pc, snap.pc_setpoint
    print(f"  t={snap.t:8.3f}  " + (f"T{tseq:+7.2f}  " if tseq is not None else "T   --    "), end="", file=out)
    print(f"{snap.state.name:<8} Pc {pc:6.2f} MPa" + (f" (cmd {sp:5.2f})" if sp == sp else "            ")
          + f"  {step[:48]}", file=out, flush=True)
