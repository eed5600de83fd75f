"""Pre-test checkout, before propellants are loaded: zero the transducers, time the valves.

    hil checkout zero   --stand S [--sim tcp] [--seconds 3] [--operator NAME]
    hil checkout valves --stand S [--sim tcp] [--yes]

Both run the controller as a run does (the same loop, safety stages and recording) with the
stand SAFE, and leave a checkout record: a run directory with the data, the events, the
results (checkout.json) and a short report (checkout.md).

*Zero* reads every channel that declares a ``zero_limit`` for a few seconds with the stand
vented, and takes each one's offset from the reading it should give vented (``zero_expect``).
An offset beyond the channel's limit is refused (a transducer that far off is broken, or the
stand is not vented) and nothing is written; otherwise the offsets go into the stand's zero
file (hil/stand/zero.py), which the loader applies from then on.

*Valves* checks that the isolation valves are closed (refused otherwise: nothing moves), asks
for confirmation, then opens and closes each valve that has position feedback, one at a time,
and measures command → 10 % and 10 → 90 % of stroke each way against ``stroke_limit_s``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hil.catalog import find_stand
from hil.controller import Controller, new_recorder
from hil.errors import HilError, Refused
from hil.links import open_link
from hil.safety import State
from hil.stand import Actuator, StandConfig, load_stand
from hil.stand.zero import unzeroed, write_zero, zero_path

SETTLE_S = 1.0  # SAFE for this long before the isolation valves are judged


@dataclass
class CheckoutResult:
    """What a checkout found; ``ok`` False when it refused or something failed its limit."""

    kind: str
    ok: bool
    record: Path | None
    lines: list[str] = field(default_factory=list)  # the report, one line each
    data: dict[str, Any] = field(default_factory=dict)


class _Session:
    """The stand's controller, SAFE, for the length of a checkout, recorded."""

    def __init__(self, stand_path: Path, stand: StandConfig, sim: str | None, out: Path, seed: int | None,
                 faults: tuple[str, ...]) -> None:
        from firmware_sim.faults import parse_fault

        self.link = open_link(stand, str(stand_path), sim, seed=seed, faults=tuple(parse_fault(f) for f in faults))
        self.recorder = new_recorder(out, stand)
        self.recorder.copy_input(stand_path)
        self.ctl = Controller(stand, self.link.transports, self.link.clock, recorder=self.recorder)
        self.loop = self.ctl.loop
        self.loop.start()
        while self.loop.t < 2.0 and (self.loop.cycle < 20 or self.ctl.warming_up()):
            self.loop.step()
        if self.ctl.supervisor.state != State.SAFE:
            raise Refused(f"checkout needs the stand SAFE; it is {self.ctl.supervisor.state.name} "
                          f"({self.ctl.supervisor.reason})")

    def run_for(self, seconds: float, each: Callable[[], None] | None = None) -> None:
        end = self.loop.t + seconds
        while self.loop.t < end:
            self.loop.step()
            if each is not None:
                each()

    def close(self, summary: dict[str, Any]) -> None:
        self.loop.shutdown("checkout done")
        self.recorder.close(summary)
        self.link.close()


def _record_dir(out: str | None, kind: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Path(out) if out else Path("runs") / f"{stamp}_checkout_{kind}"


def _finish(result: CheckoutResult, session: _Session | None) -> CheckoutResult:
    summary = {"outcome": f"checkout {'passed' if result.ok else 'failed'}", "checkout": result.kind,
               **result.data}
    if session is not None:
        summary["loop"] = session.loop.stats.summary()
        session.close(summary)
    if result.record is not None:
        result.record.mkdir(parents=True, exist_ok=True)
        (result.record / "checkout.json").write_text(json.dumps(summary, indent=2, default=str))
        (result.record / "checkout.md").write_text("\n".join(result.lines) + "\n")
    return result


# ---------------------------------------------------------------------------------- zero

def zero(stand_ref: str, sim: str | None = None, seconds: float = 3.0, operator: str = "", out: str | None = None,
         seed: int | None = None, faults: tuple[str, ...] = ()) -> CheckoutResult:
    """Measure every zeroable channel with the stand vented; write the zero file, or refuse."""
    stand_path = find_stand(stand_ref)
    stand = unzeroed(load_stand(stand_path))  # measure against the bare calibrations
    chans = [c for c in stand.channels if c.zero_limit > 0]
    record = _record_dir(out, "zero")
    result = CheckoutResult("zero", False, record)
    if not chans:
        result.lines.append(f"refused: no channel of {stand.name} declares a zero_limit (nothing to zero)")
        return _finish(result, None)
    idx = [next(i for i, c in enumerate(stand.channels) if c.name == ch.name) for ch in chans]
    samples: list[np.ndarray] = []
    session = _Session(stand_path, stand, sim, record, seed, faults)
    session.ctl.loop.event(session.loop.t, "checkout", what="zero", operator=operator, seconds=seconds)
    session.run_for(seconds, lambda: samples.append(np.where(session.loop.cs.valid[idx],
                                                             session.loop.cs.values[idx], np.nan)))
    data = np.array(samples)
    offsets: dict[str, float] = {}
    bad: list[str] = []
    rows = []
    for k, ch in enumerate(chans):
        col = data[:, k]
        good = col[np.isfinite(col)]
        if len(good) < 0.8 * len(col):
            bad.append(f"{ch.name}: only {len(good)} of {len(col)} readings valid")
            continue
        off = float(np.mean(good)) - ch.zero_expect
        sd = float(np.std(good))
        rows.append({"channel": ch.name, "offset": off, "noise_sd": sd, "limit": ch.zero_limit, "units": ch.units})
        if abs(off) > ch.zero_limit:
            bad.append(f"{ch.name}: offset {off:+.4g} {ch.units} is beyond its zero limit ±{ch.zero_limit:g} "
                       f"(reads {off + ch.zero_expect:.4g}, expected {ch.zero_expect:g} vented): a broken "
                       f"transducer, or the stand is not vented")
        offsets[ch.name] = off
    result.data = {"channels": rows, "operator": operator, "seconds": seconds}
    result.lines += [f"# Zero checkout — {stand.name}", "", f"{time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime())}, "
                     f"operator {operator or '(not given)'}, {seconds:g} s vented", "",
                     "| channel | offset | noise (1σ) | limit |", "|---|---|---|---|"]
    result.lines += [f"| {r['channel']} | {r['offset']:+.4g} {r['units']} | {r['noise_sd']:.3g} | ±{r['limit']:g} |"
                     for r in rows]
    if bad:
        result.lines += ["", "**Refused — nothing written:**", *[f"- {b}" for b in bad]]
        result.data["refused"] = bad
        return _finish(result, session)
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    zpath = zero_path(stand_path)
    sha = write_zero(zpath, stand, offsets, operator, seconds, date)
    result.ok = True
    result.data["zero_file"] = {"path": str(zpath), "sha256": sha}
    result.lines += ["", f"Written: {zpath} (sha256 {sha[:12]}…); the loader applies it to every run from now on."]
    return _finish(result, session)


# ---------------------------------------------------------------------------------- valves

def valves(stand_ref: str, sim: str | None = None, confirm: Callable[[str], bool] = lambda _: False,
           out: str | None = None, seed: int | None = None, faults: tuple[str, ...] = ()) -> CheckoutResult:
    """Time every valve with position feedback (isolation valves closed, checked first)."""
    stand_path = find_stand(stand_ref)
    stand = load_stand(stand_path)
    record = _record_dir(out, "valves")
    result = CheckoutResult("valves", False, record)
    timed = [a for a in stand.actuators if a.feedback and a.feeds != "isolation" and a.kind in ("valve", "proportional")]
    if not timed:
        result.lines.append(f"refused: no valve of {stand.name} has position feedback")
        return _finish(result, None)
    session = _Session(stand_path, stand, sim, record, seed, faults)
    ctl = session.ctl
    session.run_for(SETTLE_S)  # outputs just written (a stand that was started this moment) have moved
    open_iso = []
    for a in stand.actuators:
        if a.feeds == "isolation":
            cmd = ctl.commands.get(a.name)
            pos = _position(session, a)
            if cmd > a.range[0] or (pos is not None and pos > 5.0):
                open_iso.append(f"{a.name} (command {cmd:g}, position {pos if pos is not None else float('nan'):.0f} %)")
    if open_iso:
        result.lines.append("refused: the isolation valves must be closed before the valves are cycled: "
                            + ", ".join(open_iso) + " — nothing moved")
        result.data["refused"] = result.lines[-1]
        return _finish(result, session)
    what = ", ".join(a.name for a in timed)
    if not confirm(f"Cycle {what} open and closed, one at a time (isolation valves closed)?"):
        result.lines.append("not confirmed: nothing moved")
        result.data["refused"] = "not confirmed"
        return _finish(result, session)
    session.loop.event(session.loop.t, "checkout", what="valves", valves=[a.name for a in timed])
    rows = [_time_valve(session, a) for a in timed]
    failed = [r for r in rows if not r["ok"]]
    faulted = ctl.supervisor.fault_reason
    result.ok = not failed and not faulted
    result.data = {"valves": rows, **({"fault": faulted} if faulted else {})}
    result.lines += [f"# Valve timing checkout — {stand.name}", "",
                     "| valve | open: cmd → 10 % | open 10 → 90 % | close: cmd → 90 % | close 90 → 10 % | limit (10-90) | |",
                     "|---|---|---|---|---|---|---|"]
    for r in rows:
        ms = lambda v: f"{1e3 * v:.0f} ms" if v is not None else "never"  # noqa: E731
        result.lines.append(f"| {r['valve']} | {ms(r['open_delay_s'])} | {ms(r['open_10_90_s'])} | "
                            f"{ms(r['close_delay_s'])} | {ms(r['close_90_10_s'])} | "
                            f"{ms(r['limit_s']) if r['limit_s'] else '—'} | {'ok' if r['ok'] else 'SLOW'} |")
    if faulted:
        result.lines += ["", f"The stand latched FAULT during the checkout: {faulted}"]
    return _finish(result, session)


def _position(session: _Session, a: Actuator) -> float | None:
    i = next(k for k, c in enumerate(session.ctl.stand.channels) if c.name == a.feedback)
    v = float(session.loop.cs.values[i])
    return v if np.isfinite(v) else None


def _time_valve(session: _Session, a: Actuator) -> dict[str, Any]:
    """Open fully, then close; the times each way from the command, on the loop's clock."""
    ctl, loop = session.ctl, session.loop
    limit = a.stroke_limit_s
    wait = max(1.0, 5.0 * limit) if limit else 2.0

    def stroke(target: float, first: float, second: float, rising: bool) -> tuple[float | None, float | None]:
        ctl.set_output(a.name, target)
        t0 = loop.t
        t_first = t_second = None
        while loop.t - t0 < wait and t_second is None:
            loop.step()
            pos = _position(session, a)
            if pos is None:
                continue
            if t_first is None and (pos >= first if rising else pos <= first):
                t_first = loop.t
            if t_first is not None and (pos >= second if rising else pos <= second):
                t_second = loop.t
        session.run_for(0.2)  # let it settle before the next move
        return (None if t_first is None else t_first - t0), (None if t_second is None or t_first is None
                                                             else t_second - t_first)

    lo, hi = a.range
    open_delay, open_1090 = stroke(hi, 10.0, 90.0, True)
    close_delay, close_9010 = stroke(lo, 90.0, 10.0, False)
    measured = [v for v in (open_1090, close_9010) if v is not None]
    ok = len(measured) == 2 and (not limit or max(measured) <= limit)
    return {"valve": a.name, "open_delay_s": open_delay, "open_10_90_s": open_1090, "close_delay_s": close_delay,
            "close_90_10_s": close_9010, "limit_s": limit or None, "ok": ok}


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
