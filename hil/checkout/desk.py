"""The controller's checkout desk: at most one checkout at a time, started, advanced each
cycle, cancelled or stopped, and recorded (the procedures themselves: hil/checkout/jobs.py).

Whoever builds a controller that offers checkouts gives it a desk at construction
(``Controller(..., checkout=lambda door: CheckoutDesk(door, records=...))``); the controller
calls :meth:`CheckoutDesk.on_cycle` where clients' commands are served, which returns at once
while no checkout runs. The desk ends a checkout the moment the stand is no longer SAFE and
idle: an ABORT (never refused, also in SAFE, where it runs the safing sequence), a fault, or an
exception in the procedure — the loop it runs in goes on.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

from hil.checkout.jobs import CheckoutResult, Door, Job, Plant, refusal, valve_steps, zero_steps
from hil.cycle import CycleState
from hil.errors import Refused
from hil.safety import State


class RecordOpener(Protocol):
    """A recorder that gives a checkout a record directory of its own (hil/record/runs.py)."""

    def open_record(self, stem: str) -> Path | None: ...

    def close_record(self, facts: dict[str, Any]) -> None: ...


class CheckoutDesk:
    """The checkout in progress on one controller (``job``) and the last one's result.

    ``records``: a service's run recorder, which opens a record directory per checkout;
    ``record_dir``: the one directory ``hil checkout`` records into (neither: no record)."""

    def __init__(self, door: Door, records: RecordOpener | None = None, record_dir: Path | None = None) -> None:
        self.door = door
        self.records, self.record_dir = records, record_dir
        self.plant = Plant(door)
        self.job: Job | None = None
        self.last: CheckoutResult | None = None
        self._left = ""  # why the stand is no longer SAFE and idle (from the controller's events)
        door.add_listener(self._heard)

    def _heard(self, t: float, kind: str, fields: dict[str, Any]) -> None:
        """The controller's events say when the stand stops being SAFE and idle: a state other
        than SAFE, or the safing sequence started (an ABORT in SAFE, a fault)."""
        if self.job is None:
            return
        if kind == "state" and fields.get("to") != State.SAFE.name:
            self._left = f"the stand left SAFE ({fields.get('to')}: {fields.get('reason')})"
        elif kind in ("abort", "fault") and not self._left:
            self._left = "the safing sequence started"

    def begin(self, kind: str, operator: str = "", seconds: float = 3.0) -> Job:
        """Start a checkout (SAFE only; valve timing with the isolation valves closed)."""
        busy = f"a checkout is already running ({self.job.kind})" if self.job is not None else ""
        why = busy or refusal(self.door.snapshot(detail=False), kind)
        if not why and kind == "zero" and not (math.isfinite(seconds) and seconds > 0):
            why = f"a zero reads for a positive number of seconds, not {seconds!r}"  # NaN read nothing
        if why:
            raise Refused(why)
        record = self.records.open_record(f"checkout_{kind}") if self.records is not None else self.record_dir
        steps = zero_steps(self.plant, seconds, operator, record) if kind == "zero" else valve_steps(self.plant, record)
        self._left = ""
        self.job = Job(kind, steps, record, operator)
        return self.job

    def cancel(self, who: str) -> None:
        if self.job is None:
            raise Refused("no checkout is running")
        self.job.stop(f"cancelled by {who}")
        self._done()

    def abort(self, why: str) -> None:
        """An ABORT ends the checkout in progress, if any (the safing sequence owns the outputs)."""
        if self.job is not None:
            self.job.stop(why)
            self._done()

    def status(self) -> dict[str, Any] | None:
        return self.job.status() if self.job is not None else None

    def on_cycle(self, cs: CycleState) -> None:
        """This cycle's work (nothing while no checkout runs)."""
        job = self.job
        if job is None:
            return
        self.plant.cs = cs
        if self._left:  # a fault, or safing started another way
            job.stop(self._left)
            self._done()
            return
        try:
            finished = job.advance()
        except Exception as exc:  # a procedure that fails ends; the loop it runs in must not
            job.stop(f"the checkout failed: {type(exc).__name__}: {exc}")
            finished = True
        if finished:
            self._done()

    def _done(self) -> None:
        job, self.job = self.job, None
        assert job is not None and job.result is not None
        res = self.last = job.result
        door = self.door
        try:
            res.write()
        except OSError as exc:  # the checkout's end is not refused for a full disk; the events still say it
            door.event("record_error", what="checkout record", error=str(exc))
        door.event("checkout_done", what=res.kind, ok=res.ok, record=str(res.record) if res.record else None,
                   report=res.lines)
        if self.records is not None:
            self.records.close_record(res.summary())
