"""The controller's checkout desk: at most one checkout at a time, started, advanced each
cycle, cancelled or stopped, and recorded (the procedures themselves: hil/checkout/jobs.py).

It advances the checkout where clients' commands are served (``ControlLoop.operator``, set only
while one runs, so a controller with none pays nothing), and ends it the moment the stand is no
longer SAFE and idle: an ABORT (never refused, also in SAFE, where it runs the safing sequence),
a fault, or an exception in the procedure — the loop it runs in goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hil.checkout.jobs import CheckoutResult, Job, refusal, valve_steps, zero_steps
from hil.errors import Refused
from hil.safety import State

if TYPE_CHECKING:
    from hil.controller import Controller


class CheckoutDesk:
    """The checkout in progress on one controller (``job``) and the last one's result."""

    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.job: Job | None = None
        self.last: CheckoutResult | None = None

    def begin(self, kind: str, operator: str = "", seconds: float = 3.0) -> Job:
        """Start a checkout (SAFE only; valve timing with the isolation valves closed). Its
        record: a run directory of its own when the recorder makes them (a service), else the
        recorder's own directory (``hil checkout``)."""
        ctl = self.ctl
        why = refusal(ctl, kind)
        if why:
            raise Refused(why)
        rec = ctl.loop.recorder
        opener = getattr(rec, "open_record", None)
        record = opener(f"checkout_{kind}") if callable(opener) else getattr(rec, "dir", None)
        steps = zero_steps(ctl, seconds, operator, record) if kind == "zero" else valve_steps(ctl, record)
        self.job = Job(kind, steps, record, operator)
        ctl.loop.operator = self._operate
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

    def _operate(self, cs: Any) -> None:
        """This cycle's work (the loop calls it while a checkout runs)."""
        job, sup = self.job, self.ctl.supervisor
        assert job is not None
        if sup.state != State.SAFE or sup.safing.active:  # a fault, or safing started another way
            job.stop(f"the stand left SAFE ({sup.state.name}: {sup.reason})" if sup.state != State.SAFE
                     else "the safing sequence started")
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
        loop = self.ctl.loop
        job, self.job, loop.operator = self.job, None, None
        assert job is not None and job.result is not None
        res = self.last = job.result
        try:
            res.write()
        except OSError as exc:  # the checkout's end is not refused for a full disk; the events still say it
            loop.event(loop.t, "record_error", what="checkout record", error=str(exc))
        loop.event(loop.t, "checkout_done", what=res.kind, ok=res.ok, record=str(res.record) if res.record else None,
                   report=res.lines)
        closer = getattr(loop.recorder, "close_record", None)
        if callable(closer):
            closer(res.summary())
