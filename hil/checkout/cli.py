"""``hil checkout``: the checkout procedures (hil/checkout/jobs.py) on a controller of their own.

The stand is connected (or simulated) as for a run, the controller runs until it is SAFE with
every sensor reading, the checkout runs on it cycle by cycle, and the session's run directory
is the checkout record.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hil.catalog import find_stand
from hil.checkout.desk import CheckoutDesk
from hil.checkout.jobs import CheckoutResult, refusal
from hil.controller import Controller
from hil.errors import HilError, Refused
from hil.links import open_link
from hil.record.recorder import new_recorder
from hil.safety import State
from hil.stand import StandConfig, load_stand
from hil.stand.checkable import timed_valves

SETTLE_S = 1.0  # SAFE for this long before the isolation valves are judged


class _Session:
    """The stand's controller, SAFE, for the length of a checkout, recorded."""

    def __init__(self, stand_path: Path, stand: StandConfig, sim: str | None, out: Path, seed: int | None,
                 faults: tuple[str, ...]) -> None:
        from firmware_sim.faults import parse_fault

        self.link = open_link(stand, str(stand_path), sim, seed=seed, faults=tuple(parse_fault(f) for f in faults))
        self.recorder = new_recorder(out, stand)
        self.recorder.copy_input(stand_path)
        self.desk: CheckoutDesk | None = None

        def desk(door: Controller) -> CheckoutDesk:
            self.desk = CheckoutDesk(door, record_dir=out)
            return self.desk

        self.ctl = Controller(stand, self.link.transports, self.link.clock, recorder=self.recorder,
                              stand_path=stand_path, checkout=desk)
        self.ctl.begin()
        snap = self.ctl.snapshot(detail=False)
        t, cycles = snap.t, snap.cycle
        while t < 2.0 and (cycles < 20 or self.ctl.warming_up()):
            t, cycles = self.ctl.step(), cycles + 1
        snap = self.ctl.snapshot(detail=False)
        if snap.state != State.SAFE:
            raise Refused(f"checkout needs the stand SAFE; it is {snap.state.name} ({snap.reason})")

    def run_for(self, seconds: float) -> None:
        t = self.ctl.snapshot(detail=False).t
        end = t + seconds
        while t < end:
            t = self.ctl.step()

    def checkout(self, kind: str, **kw: Any) -> CheckoutResult:
        """Run one checkout to its end on this session's controller."""
        desk = self.desk
        assert desk is not None
        desk.begin(kind, **kw)
        while desk.job is not None:
            self.ctl.step()
        assert desk.last is not None
        return desk.last

    def close(self, result: CheckoutResult) -> None:
        self.ctl.shutdown("checkout done")
        loop = self.ctl.snapshot(detail=False, loop_summary=True).loop
        self.recorder.close({**result.summary(), "loop": dict(loop.summary or {})})
        self.link.close()


def _record_dir(out: str | None, kind: str) -> Path:
    import time

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Path(out) if out else Path("runs") / f"{stamp}_checkout_{kind}"


def _refused(kind: str, record: Path, why: str, session: _Session | None = None) -> CheckoutResult:
    result = CheckoutResult(kind, False, record, [why], {"refused": why})
    if session is not None:
        session.close(result)
    result.write()
    return result


def zero(stand_ref: str, sim: str | None = None, seconds: float = 3.0, operator: str = "", out: str | None = None,
         seed: int | None = None, faults: tuple[str, ...] = ()) -> CheckoutResult:
    """Measure every zeroable channel with the stand vented; write the zero file, or refuse."""
    stand_path = find_stand(stand_ref)
    stand = load_stand(stand_path, zero=False)  # against the bare calibrations (an old zero file may be stale)
    record = _record_dir(out, "zero")
    if not any(c.zero_limit > 0 for c in stand.channels):
        return _refused("zero", record, f"refused: no channel of {stand.name} declares a zero_limit (nothing to zero)")
    session = _Session(stand_path, stand, sim, record, seed, faults)
    result = session.checkout("zero", operator=operator, seconds=seconds)
    session.close(result)
    return result


def valves(stand_ref: str, sim: str | None = None, confirm: Callable[[str], bool] = lambda _: False,
           out: str | None = None, seed: int | None = None, faults: tuple[str, ...] = ()) -> CheckoutResult:
    """Time every valve with position feedback (isolation valves closed, checked first)."""
    stand_path = find_stand(stand_ref)
    stand = load_stand(stand_path)
    record = _record_dir(out, "valves")
    timed = timed_valves(stand)
    if not timed:
        return _refused("valves", record, f"refused: no valve of {stand.name} has position feedback")
    session = _Session(stand_path, stand, sim, record, seed, faults)
    session.run_for(SETTLE_S)  # outputs just written (a stand that was started this moment) have moved
    why = refusal(session.ctl.snapshot(detail=False), "valves")
    if why:
        return _refused("valves", record, f"refused: {why}", session)
    what = ", ".join(a.name for a in timed)
    if not confirm(f"Cycle {what} open and closed, one at a time (isolation valves closed)?"):
        return _refused("valves", record, "not confirmed: nothing moved", session)
    result = session.checkout("valves")
    session.close(result)
    return result


def main(args: Any) -> int:
    """`hil checkout`: print the report; exit 0 when it passed, 1 when refused or failed."""
    import sys

    try:
        if args.what == "zero":
            res = zero(args.stand, args.sim, args.seconds, args.operator, args.out, args.seed, tuple(args.fault))
        else:
            if not args.yes and not sys.stdin.isatty():
                print("hil checkout valves: valves will move; confirm with --yes (no terminal to ask on)",
                      file=sys.stderr)
                return 1

            def ask(text: str) -> bool:
                return args.yes or input(f"{text} [y/N] ").strip().lower() in ("y", "yes")

            res = valves(args.stand, args.sim, ask, args.out, args.seed, tuple(args.fault))
    except HilError as exc:
        print(f"hil checkout: error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(res.lines))
    if res.record is not None:
        print(f"\nrecord: {res.record}")
    return 0 if res.ok else 1
