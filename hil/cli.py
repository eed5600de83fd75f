"""The ``hil`` command: one entry point for the simulator, the controller and its tools.

Subcommands import what they need when they run, so ``hil sim`` does not load the controller
and ``hil check`` does not load Modbus.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hil import __version__
from hil.errors import HilError

EXIT_OK, EXIT_INVALID, EXIT_ABORTED, EXIT_FAULT = 0, 1, 2, 3


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return (host or "127.0.0.1", int(port))


def _cmd_sim(args: argparse.Namespace) -> int:
    from firmware_sim.cli import run_sim

    return run_sim(args)


def _engine_value(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PARAM=NUMBER, got {text!r}") from None


def _cmd_run(args: argparse.Namespace) -> int:
    from hil.runner import RunOptions, run

    res = run(RunOptions(sequence=args.sequence, stand=args.stand, sim=args.sim, out=args.out, seed=args.seed,
                         faults=tuple(args.fault), progress=not args.quiet, rate_hz=args.rate,
                         rt_priority=args.rt_priority, auto_proceed=args.auto_proceed,
                         engine=tuple(args.engine), noise_scale=args.noise_scale))
    if args.report and res.run_dir is not None:
        from hil.record.report import report

        print(f"hil run: report {report(res.run_dir)}")
    return res.exit_code


def _cmd_report(args: argparse.Namespace) -> int:
    from hil.record.report import compare, report

    if len(args.runs) == 1:
        print(f"wrote {report(args.runs[0])}")
    elif len(args.runs) == 2:
        print(f"wrote {compare(args.runs[0], args.runs[1], args.out)}")
    else:
        print("hil report: give one run directory, or two to compare", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from hil.serve import ServeOptions, serve

    return serve(ServeOptions(stand=args.stand, sim=args.sim, rep=args.rep, pub=args.pub, out=args.out,
                              seed=args.seed, faults=tuple(args.fault), rate_hz=args.rate, keys=args.keys,
                              rt_priority=args.rt_priority, runs=args.runs))


def _cmd_checkout(args: argparse.Namespace) -> int:
    from hil.checkout.cli import main

    return main(args)


def _cmd_keys(args: argparse.Namespace) -> int:
    from hil.service.auth import generate

    made = generate(args.dir, tuple(args.client or ["console"]))
    for path in made:
        print(f"wrote {path}")
    print(f"controller: hil serve ... --keys {args.dir}; each client needs server.key and its own <name>.key_secret "
          f"(hil gui --connect REP PUB --keys DIR --key-name NAME); revoke a client by deleting "
          f"{args.dir}/authorized/<name>.key and restarting the controller")
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    from hil.check import check

    return check(args.sequence, args.stand)


def _cmd_export(args: argparse.Namespace) -> int:
    from hil.record.recorder import export

    if args.tdms:
        from hil.record.report import export_tdms

        path = export_tdms(args.run, args.out)
    else:
        path = export(args.run, "csv" if args.csv else "parquet", args.out)
    print(f"wrote {path}")
    return EXIT_OK


def _cmd_regmap(args: argparse.Namespace) -> int:
    from hil.stand import load_stand
    from hil.stand.regmap_doc import render_all

    text = render_all([load_stand(p) for p in args.stands])
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (separate so docs and tests can introspect it)."""
    p = argparse.ArgumentParser(prog="hil", description="Hardware-in-the-loop controller for rocket-engine test stands.")
    p.add_argument("--version", action="version", version=f"hil-stand {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sim", help="run the simulated stand (engine + DAQ firmware) behind a Modbus server",
                       description="Run the simulated stand in real time until interrupted. Binds 127.0.0.1 by default.")
    s.add_argument("--stand", required=True, help="stand file or shipped name (sim_tq12, sim_lab)")
    s.add_argument("--tcp", type=_host_port, metavar="HOST:PORT",
                   help="serve Modbus TCP here (default: the stand's transport address, else 127.0.0.1:5020; port 0 picks a free one)")
    s.add_argument("--rtu", metavar="DEVICE", help="serve Modbus RTU on this serial device (e.g. one end of a pty pair)")
    s.add_argument("--baud", type=int, default=115200, help="RTU baud rate (default 115200)")
    s.add_argument("--line", action="append", default=[], metavar="SERIAL=PATH",
                   help="serve the stand's serial line SERIAL (its devices' serial = ...) on PATH, e.g. a pty; "
                        "repeatable (stands of several devices)")
    s.add_argument("--no-pace", action="store_true",
                   help="answer RTU requests at once instead of after the wire time at the baud rate")
    s.add_argument("--rt-priority", type=int, metavar="1-99", help="run under SCHED_FIFO at this priority")
    s.add_argument("--unit", type=int, default=None, help="Modbus unit id (default: the stand's)")
    s.add_argument("--seed", type=int, default=None, help="noise seed (default: the stand's [sim] seed)")
    s.add_argument("--fault", action="append", default=[], metavar="NAME[:K=V,...]@START[+DUR]",
                   help="inject a fault at a time on the simulator clock; repeatable (see docs/simulator.md)")
    s.add_argument("--status", type=float, default=0.0, metavar="SECONDS",
                   help="print the simulator's own view (Pc, thrust, firmware state) every SECONDS")
    s.set_defaults(func=_cmd_sim)

    r = sub.add_parser("run", help="run a sequence headless (optionally against a simulated stand it starts)",
                       description="Exit codes: 0 completed, 1 invalid input, 2 aborted and safed, 3 fault.")
    r.add_argument("sequence", help="sequence file, or the name of a shipped sequence (tq12_three_burn)")
    r.add_argument("--stand", help="stand file or shipped stand name (default: the stand the sequence names)")
    r.add_argument("--sim", choices=("lockstep", "tcp", "rtu"),
                   help="start the simulated stand: in-process lockstep, a child process on TCP, or on an RTU pty pair")
    r.add_argument("--out", help="run directory (default runs/<utc>_<sequence>)")
    r.add_argument("--seed", type=int, help="simulator noise seed")
    r.add_argument("--fault", action="append", default=[], help="inject a simulator fault (see hil sim --help)")
    r.add_argument("--engine", action="append", default=[], type=_engine_value, metavar="PARAM=VALUE",
                   help="replace a simulated engine parameter (lockstep; e.g. valve_stroke_s=0.33): one engine of a "
                        "campaign, as its row gives it")
    r.add_argument("--noise-scale", type=float, help="the simulated sensors' noise, times this (lockstep)")
    r.add_argument("--rate", type=float, help="loop rate in Hz (default: the stand's)")
    r.add_argument("--quiet", action="store_true", help="no live progress lines")
    r.add_argument("--rt-priority", type=int, metavar="1-99",
                   help="run the loop (and a simulator it starts) under SCHED_FIFO at this priority (needs root/CAP_SYS_NICE)")
    r.add_argument("--report", action="store_true", help="write report.html at the end")
    r.add_argument("--auto-proceed", action="store_true",
                   help="answer PROCEED to every prompt of the sequence (CI; each answer is logged as automatic)")
    r.set_defaults(func=_cmd_run)

    v = sub.add_parser("serve", help="run the controller as a service for the console and other clients")
    v.add_argument("--stand", required=True)
    v.add_argument("--sim", choices=("tcp", "rtu"), help="start the simulated stand as a child process")
    v.add_argument("--rep", default="tcp://127.0.0.1:5556",
                   help="command endpoint (loopback unless --keys is given)")
    v.add_argument("--pub", default="tcp://127.0.0.1:5557", help="telemetry endpoint (likewise)")
    v.add_argument("--keys", metavar="DIR", help="require CURVE authentication with the keys made by `hil keys DIR`")
    v.add_argument("--out", help="directory for the session's continuous recording")
    v.add_argument("--runs", help="where each run (ARM to SAFE) gets its own directory (default: beside --out)")
    v.add_argument("--seed", type=int)
    v.add_argument("--fault", action="append", default=[])
    v.add_argument("--rate", type=float)
    v.add_argument("--rt-priority", type=int, metavar="1-99",
                   help="run the loop under SCHED_FIFO at this priority (a simulator child 10 below)")
    v.set_defaults(func=_cmd_serve)

    co = sub.add_parser("checkout", help="pre-test checkout with the stand SAFE: zero the transducers, time the valves")
    co.add_argument("what", choices=("zero", "valves"))
    co.add_argument("--stand", required=True, help="stand file or shipped stand name")
    co.add_argument("--sim", choices=("lockstep", "tcp", "rtu"), help="against the simulated stand")
    co.add_argument("--seconds", type=float, default=3.0, help="zero: how long to read the vented stand")
    co.add_argument("--operator", default="", help="zero: who zeroed it (written in the zero file)")
    co.add_argument("--yes", action="store_true", help="valves: confirm moving the valves without asking")
    co.add_argument("--out", help="checkout record directory (default runs/<utc>_checkout_<what>)")
    co.add_argument("--seed", type=int)
    co.add_argument("--fault", action="append", default=[], help="a simulator fault (see hil sim --help)")
    co.set_defaults(func=_cmd_checkout)

    k = sub.add_parser("keys", help="make CURVE keys for a network-facing command service")
    k.add_argument("dir", help="key directory (created; mode 700)")
    k.add_argument("--client", action="append", help="a client key to make and authorise (repeatable; default console)")
    k.set_defaults(func=_cmd_keys)

    c = sub.add_parser("check", help="validate a sequence against a stand and print its timeline (dry run)")
    c.add_argument("sequence", help="sequence file or shipped name")
    c.add_argument("--stand", help="stand file or shipped name (default: the stand the sequence names)")
    c.set_defaults(func=_cmd_check)

    rp = sub.add_parser("report", help="report.html for a run, or a comparison of two runs")
    rp.add_argument("runs", nargs="+", help="RUN_DIR, or RUN_A RUN_B")
    rp.add_argument("--out", help="comparison page path (default RUN_B/compare.html)")
    rp.set_defaults(func=_cmd_report)

    e = sub.add_parser("export", help="export a recorded run's data.arrow as CSV or Parquet")
    e.add_argument("run", help="run directory")
    g = e.add_mutually_exclusive_group(required=True)
    g.add_argument("--csv", action="store_true")
    g.add_argument("--parquet", action="store_true")
    g.add_argument("--tdms", action="store_true", help="NI TDMS (for DIAdem)")
    e.add_argument("--out", help="output file (default: next to data.arrow)")
    e.set_defaults(func=_cmd_export)

    sub.add_parser("faults", help="run the fault matrix in lockstep and write its table (hil faults --help)")
    sub.add_parser("bench", help="the performance suite: every figure beside its target (hil bench --help)")
    sub.add_parser("gui", help="the test console (starts the embedded simulated stand by default; hil gui --help)")

    r = sub.add_parser("regmap", help="print the Modbus register map of stand configs as Markdown")
    r.add_argument("stands", nargs="+", help="stand config files")
    r.add_argument("--out", help="write to this file instead of stdout")
    r.set_defaults(func=_cmd_regmap)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hil`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["faults"]:
        from hil.campaign.faultmatrix import main as faults_main

        return faults_main(argv[1:])
    if argv[:1] == ["campaign"]:
        from hil.campaign.cli import main as campaign_main

        return campaign_main(argv[1:])
    if argv[:1] == ["bench"]:  # the benchmark suite parses its own options
        from hil.bench.suite import main as bench_main

        return bench_main(argv[1:])
    if argv[:1] == ["gui"]:  # the console parses its own options (argparse REMAINDER cannot take --flags)
        from hil.gui.app import main as gui_main

        return gui_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except HilError as exc:
        print(f"hil {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
