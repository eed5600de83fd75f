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


def _cmd_regmap(args: argparse.Namespace) -> int:
    from hil.config import load_stand
    from hil.regmap_doc import render_all

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
    s.add_argument("--stand", required=True, help="stand config (configs/stands/sim_tq12.toml or sim_lab.toml)")
    s.add_argument("--tcp", type=_host_port, metavar="HOST:PORT",
                   help="serve Modbus TCP here (default: the stand's transport address, else 127.0.0.1:5020; port 0 picks a free one)")
    s.add_argument("--rtu", metavar="DEVICE", help="serve Modbus RTU on this serial device (e.g. one end of a socat pty pair)")
    s.add_argument("--baud", type=int, default=115200, help="RTU baud rate (default 115200)")
    s.add_argument("--unit", type=int, default=None, help="Modbus unit id (default: the stand's)")
    s.add_argument("--seed", type=int, default=None, help="noise seed (default: the stand's [sim] seed)")
    s.add_argument("--fault", action="append", default=[], metavar="NAME[:K=V,...]@START[+DUR]",
                   help="inject a fault at a time on the simulator clock; repeatable (see docs/simulator.md)")
    s.add_argument("--status", type=float, default=0.0, metavar="SECONDS",
                   help="print the simulator's own view (Pc, thrust, firmware state) every SECONDS")
    s.set_defaults(func=_cmd_sim)

    r = sub.add_parser("regmap", help="print the Modbus register map of stand configs as Markdown")
    r.add_argument("stands", nargs="+", help="stand config files")
    r.add_argument("--out", help="write to this file instead of stdout")
    r.set_defaults(func=_cmd_regmap)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hil`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except HilError as exc:
        print(f"hil {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
