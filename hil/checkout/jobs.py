"""The checkout procedures as work done one control cycle at a time.

A checkout is an automated operator: it reads the cycle's values and sends manual commands,
which the supervisor accepts only in SAFE, exactly as it accepts a console's. So it runs where
the clients' commands are served (the controller's checkout desk, in the publish stage), whether
the controller belongs to ``hil checkout`` or to a service with consoles attached; it reads the
cycle's values and the controller's snapshots (:class:`Plant`) and acts through the
controller's command methods (:class:`Door`); each procedure
is a generator that yields once per cycle (what it is doing, for the status) and returns its
:class:`CheckoutResult`. If the stand leaves SAFE (an ABORT, a fault) or the operator cancels,
the generator is closed: the valve under test is commanded closed and the record says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hil.controller.snapshot import Snapshot
from hil.cycle import CycleState
from hil.errors import Refused
from hil.files import write_json_atomic, write_text_atomic
from hil.safety import State
from hil.stand import Actuator, StandConfig
from hil.stand.checkable import timed_valves, zeroable
from hil.stand.kinds import Feeds
from hil.stand.zero import apply_zero, unzeroed, write_zero, zero_path


class Door(Protocol):
    """What a checkout uses of its controller (hil/controller/controller.py): its read model, two
    commands and its event log."""

    def snapshot(self, *, detail: bool = True, loop_summary: bool = False,
                 last_cycles: int | None = None) -> Snapshot: ...

    def set_output(self, name: str, value: float) -> float: ...

    def recalibrate(self, stand: StandConfig) -> None: ...

    def event(self, kind: str, **fields: Any) -> None: ...

    def add_listener(self, listener: Callable[[float, str, dict[str, Any]], None]) -> None: ...


class Plant:
    """A checkout's view of the stand: this cycle's values (the desk hands each cycle over
    before the procedure's next step) and the controller's snapshots and commands."""

    def __init__(self, door: Door) -> None:
        self.door = door
        self.cs: CycleState | None = None
        self._index: dict[str, int] = {}

    def value(self, name: str) -> float | None:
        """Channel ``name``'s value this cycle (None: unknown)."""
        assert self.cs is not None
        if not self._index:  # the stand's channel order, which the cycle's values follow
            self._index = {c.name: i for i, c in enumerate(self.snapshot().stand.channels)}
        v = float(self.cs.values[self._index[name]])
        return v if np.isfinite(v) else None

    @property
    def t(self) -> float:
        assert self.cs is not None
        return self.cs.t

    def snapshot(self) -> Snapshot:
        return self.door.snapshot(detail=False)

KINDS = ("zero", "valves")

Steps = Generator[str, None, "CheckoutResult"]


@dataclass
class CheckoutResult:
    """What a checkout found; ``ok`` False when it refused or something failed its limit."""

    kind: str
    ok: bool
    record: Path | None
    lines: list[str] = field(default_factory=list)  # the report, one line each
    data: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """checkout.json: the outcome and what was measured."""
        return {"outcome": f"checkout {'passed' if self.ok else 'failed'}", "checkout": self.kind, **self.data}

    def write(self) -> None:
        """The record's checkout.json and checkout.md (the short report)."""
        if self.record is None:
            return
        self.record.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.record / "checkout.json", self.summary())
        write_text_atomic(self.record / "checkout.md", "\n".join(self.lines) + "\n")


def position(values: Mapping[str, float], a: Actuator) -> float | None:
    v = float(values[a.feedback])
    return v if np.isfinite(v) else None


def open_isolation(snap: Snapshot) -> list[str]:
    """Isolation valves commanded or reading open (each named with both): a valve timing
    checkout is refused while there are any."""
    out = []
    for a in snap.stand.actuators:
        if a.feeds == Feeds.ISOLATION:
            cmd = snap.outputs[a.name]
            pos = position(snap.values, a) if a.feedback else None
            if cmd > a.range[0] or (pos is not None and pos > 5.0):
                out.append(f"{a.name} (command {cmd:g}, position {pos if pos is not None else float('nan'):.0f} %)")
    return out


def refusal(snap: Snapshot, kind: str) -> str:
    """Every reason this checkout cannot start now, most telling first ("" when it can)."""
    if kind not in KINDS:
        return f"unknown checkout {kind!r} (zero or valves)"
    out = []
    stand = snap.stand
    if kind == "zero":
        if not zeroable(stand):
            out.append(f"no channel of {stand.name} declares a zero_limit (nothing to zero)")
        if snap.stand_path is None:
            out.append("this controller does not know its stand file, so it has nowhere to write the zero file")
    else:
        if not timed_valves(stand):
            out.append(f"no valve of {stand.name} has position feedback")
        if opened := open_isolation(snap):
            out.append("the isolation valves must be closed before the valves are cycled: " + ", ".join(opened)
                       + " — nothing moved")
    if snap.state != State.SAFE or snap.safing:
        out.append(f"a checkout runs only with the stand SAFE; it is {snap.state.name}"
                   + (" (safing still running)" if snap.safing else ""))
    return "; ".join(out)


class Job:
    """One checkout in progress on a controller."""

    def __init__(self, kind: str, steps: Steps, record: Path | None, operator: str) -> None:
        self.kind, self.record, self.operator = kind, record, operator
        self.phase = "starting"
        self.result: CheckoutResult | None = None
        self._steps = steps

    def advance(self) -> bool:
        """One cycle of work; True once finished (``result`` set)."""
        try:
            self.phase = next(self._steps)
            return False
        except StopIteration as done:
            self.result = done.value
            return True

    def stop(self, why: str) -> None:
        """End it now (cancelled, or the stand left SAFE): the procedure closes what it opened."""
        self._steps.close()
        self.result = CheckoutResult(self.kind, False, self.record, [f"stopped: {why}"], {"stopped": why})

    def status(self) -> dict[str, Any]:
        return {"kind": self.kind, "phase": self.phase, "operator": self.operator,
                "record": str(self.record) if self.record else None}


# ---------------------------------------------------------------------------------- zero

def zero_steps(plant: Plant, seconds: float, operator: str, record: Path | None) -> Steps:
    """Read the zeroable channels ``seconds`` with the stand vented; offsets from the bare
    calibration (the controller's stand may have a zero applied: it is added back), refused
    beyond a limit, else written to the zero file and applied to the running controller."""
    snap = plant.snapshot()
    stand = snap.stand
    chans = zeroable(stand)
    idx = np.array([i for i, _ in chans])
    applied = (stand.zero or {}).get("offsets", {})
    old = np.array([float(applied.get(c.name, 0.0)) for _, c in chans])
    samples: list[np.ndarray] = []
    plant.door.event("checkout", what="zero", operator=operator, seconds=seconds)
    end = plant.t + seconds
    while plant.t < end:
        cs = plant.cs
        assert cs is not None
        samples.append(np.where(cs.valid[idx], cs.values[idx] + old, np.nan))
        yield f"zero: reading {len(chans)} channels vented, {max(0.0, end - plant.t):.1f} s left"
    data = np.array(samples).reshape(-1, len(chans))
    result = CheckoutResult("zero", False, record)
    offsets: dict[str, float] = {}
    bad: list[str] = []
    rows = []
    for k, (_, ch) in enumerate(chans):
        col = data[:, k]
        good = col[np.isfinite(col)]
        if len(good) < 0.8 * len(col) or not len(good):
            bad.append(f"{ch.name}: only {len(good)} of {len(col)} readings valid")
            continue
        off = float(np.mean(good)) - ch.zero_expect
        rows.append({"channel": ch.name, "offset": off, "noise_sd": float(np.std(good)), "limit": ch.zero_limit,
                     "units": ch.units})
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
        return result
    assert snap.stand_path is not None
    bare = unzeroed(stand)
    zpath = zero_path(snap.stand_path)
    sha = write_zero(zpath, bare, offsets, operator, seconds, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    plant.door.recalibrate(apply_zero(bare, zpath))  # this controller reads zeroed from the next cycle on
    result.ok = True
    result.data["zero_file"] = {"path": str(zpath), "sha256": sha}
    result.lines += ["", f"Written: {zpath} (sha256 {sha[:12]}…); applied now, and by the loader to every run "
                         "from now on."]
    return result


# ---------------------------------------------------------------------------------- valves

def valve_steps(plant: Plant, record: Path | None) -> Steps:
    """Open and close each timed valve in turn, timing the strokes on the loop's clock. The
    valves are commanded closed however this ends."""
    stand = plant.snapshot().stand
    timed = timed_valves(stand)
    plant.door.event("checkout", what="valves", valves=[a.name for a in timed])
    rows: list[dict[str, Any]] = []
    try:
        for a in timed:
            rows.append((yield from _time_valve(plant, a)))
    finally:
        snap = plant.snapshot()
        if snap.state == State.SAFE:
            for a in timed:
                if snap.outputs[a.name] != a.range[0]:
                    try:
                        plant.door.set_output(a.name, a.range[0])
                    except Refused:
                        pass  # safing owns the outputs now
    failed = [r for r in rows if not r["ok"]]
    faulted = plant.snapshot().fault_reason
    result = CheckoutResult("valves", not failed and not faulted, record)
    result.data = {"valves": rows, **({"fault": faulted} if faulted else {})}
    result.lines += [f"# Valve timing checkout — {stand.name}", "",
                     "| valve | open: cmd → 10 % | open 10 → 90 % | close: cmd → 90 % | close 90 → 10 % | limit (10-90) | |",
                     "|---|---|---|---|---|---|---|"]
    for r in rows:
        result.lines.append(f"| {r['valve']} | {_ms(r['open_delay_s'])} | {_ms(r['open_10_90_s'])} | "
                            f"{_ms(r['close_delay_s'])} | {_ms(r['close_90_10_s'])} | "
                            f"{_ms(r['limit_s']) if r['limit_s'] else '—'} | {'ok' if r['ok'] else 'SLOW'} |")
    if faulted:
        result.lines += ["", f"The stand latched FAULT during the checkout: {faulted}"]
    return result


def _ms(v: float | None) -> str:
    return f"{1e3 * v:.0f} ms" if v is not None else "never"


def _time_valve(plant: Plant, a: Actuator) -> Generator[str, None, dict[str, Any]]:
    """Open fully, then close; the times each way from the command."""
    limit = a.stroke_limit_s
    wait = max(1.0, 5.0 * limit) if limit else 2.0

    def stroke(target: float, first: float, second: float, rising: bool
               ) -> Generator[str, None, tuple[float | None, float | None]]:
        plant.door.set_output(a.name, target)
        t0 = plant.t
        t_first = t_second = None
        while plant.t - t0 < wait and t_second is None:
            yield f"valves: {a.name} {'opening' if rising else 'closing'}"
            pos = plant.value(a.feedback)
            if pos is None:
                continue
            if t_first is None and (pos >= first if rising else pos <= first):
                t_first = plant.t
            if t_first is not None and (pos >= second if rising else pos <= second):
                t_second = plant.t
        settle = plant.t + 0.2
        while plant.t < settle:  # let it settle before the next move
            yield f"valves: {a.name} settling"
        return (None if t_first is None else t_first - t0), (None if t_second is None or t_first is None
                                                             else t_second - t_first)

    lo, hi = a.range
    open_delay, open_1090 = yield from stroke(hi, 10.0, 90.0, True)
    close_delay, close_9010 = yield from stroke(lo, 90.0, 10.0, False)
    measured = [v for v in (open_1090, close_9010) if v is not None]
    ok = len(measured) == 2 and (not limit or max(measured) <= limit)
    return {"valve": a.name, "open_delay_s": open_delay, "open_10_90_s": open_1090, "close_delay_s": close_delay,
            "close_90_10_s": close_9010, "limit_s": limit or None, "ok": ok}
