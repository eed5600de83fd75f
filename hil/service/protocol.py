"""The controller's JSON command protocol: one client request → an explicit ack
``{"ok": true, ...}``, a refusal ``{"ok": false, "refused": reason}``, or (for ``load``) a
:class:`Deferred` answer the service sends once the parse off the loop thread is done.

The wire's words live here; the controller has typed command methods and one read model
(hil/controller/controller.py), and this module translates between the two: who sent a request (the
authenticated key name, else the name the client gives), whether it holds command authority,
whether a checkout in progress holds the outputs, which command method to call, and how a
refusal reads.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hil.controller.snapshot import Snapshot
from hil.errors import ConfigError, Refused, SequenceInvalid
from hil.service.meta import stand_meta

if TYPE_CHECKING:
    from hil.controller import Controller
    from hil.sequence import Sequence

# what a checkout in progress refuses (it holds the outputs): ABORT, status and authority stay
BUSY_DURING_CHECKOUT = ("load", "arm", "start", "set", "reset", "hold", "resume", "answer", "checkout")
AUTHORITY_COMMANDS = ("take_authority", "request_authority", "hand_over", "release_authority")


def _who(request: dict[str, Any]) -> str:
    """Who sent a request, for the record: the authenticated key name the service put in
    (``_user``), else the name the client gives, else its id."""
    return str(request.get("_user") or request.get("name") or request.get("client") or "unknown client")


@dataclass
class Deferred:
    """A reply that is not ready yet: the service sends ``finish()`` once ``future`` is done."""

    future: Future[Any]
    finish: Callable[[], dict[str, Any]]


def loaded(seq: Sequence) -> dict[str, Any]:
    """What ``load`` and ``sequence`` reply: the timeline a console shows."""
    return {"ok": True, "name": seq.name, "sha256": seq.sha256, "steps": [
        {"at": s.at, "what": s.describe(), "line": s.line, "label": s.label} for s in seq.steps]}


def status_of(snap: Snapshot) -> dict[str, Any]:
    """The status a client shows in its status bar, from a snapshot (the ``status`` reply and
    the ``status`` messages published at 10 Hz)."""
    lp = snap.loop
    seq = snap.sequence
    return {
        "state": snap.state.name, "reason": snap.reason, "t": round(snap.t, 4),
        "comm_ok": snap.comm_ok, "firmware_state": snap.firmware_state, "firmware_trips": snap.firmware_trips,
        "sequence": seq.name if seq else None, "sequence_sha256": seq.sha256 if seq else None,
        "step": snap.step, "t_seq": round(snap.t_seq, 4) if snap.t_seq is not None else None,
        "recording": snap.recording,
        "cycles": lp.cycles, "overruns": lp.overruns, "failed_cycles": lp.failed_cycles,
        "deadlines_due": lp.deadlines_due, "deadlines_met_share": lp.met_share,
        "recent_met_share": lp.recent_met_share, "recent_s": lp.recent_s,
        "loop_degraded": lp.degraded, "last_error": lp.last_error or None,
        "abort_reason": snap.abort_reason, "fault_reason": snap.fault_reason,
        "disqualified": list(snap.disqualified),
        "devices": dict(snap.devices),
        "line_stats": dict(snap.line_stats),
        # how old each device's and channel's last reading is (s; None: never read), and
        # why a channel has no value now: what a console shows beside a held value
        "device_age": dict(snap.device_age),
        "channel_age": dict(snap.channel_age),
        "unknown": dict(snap.unknown),
        "prompt": dict(snap.prompt) if snap.prompt is not None else None,
        "run_dir": str(snap.run_dir or "") or None,
        "authority": dict(snap.authority),
        "held_by": snap.held_by,
        "checkout": dict(snap.checkout) if snap.checkout is not None else None,
    }


class CommandProtocol:
    """Answers the requests of every client of one controller (called on the loop thread,
    between cycles)."""

    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl

    def handle(self, request: dict[str, Any]) -> dict[str, Any] | Deferred:
        """One client request → an explicit ack or a refusal with its reason; for ``load`` a
        :class:`Deferred` whose reply the service sends when the parse is done."""
        who = _who(request)
        with self.ctl.acting_for(who):
            return self._handle(request, who)

    def _handle(self, request: dict[str, Any], who: str) -> dict[str, Any] | Deferred:
        ctl = self.ctl
        cmd = request.get("cmd")
        ctl.heard(request.get("client"))
        client = str(request.get("client") or who)
        if cmd in AUTHORITY_COMMANDS:
            return self._answer(cmd, lambda: ctl.authority_command(client, who, str(cmd), request))
        try:
            ctl.authorise(client, who, str(cmd))
        except Refused as exc:
            return self._refusal(cmd, exc)
        if cmd in BUSY_DURING_CHECKOUT and (job := ctl.snapshot(detail=False).checkout) is not None:
            return self._refusal(cmd, Refused(f"a checkout is running ({job['kind']}: {job['phase']}); "
                                              "wait for it or cancel it"))
        if cmd == "load":
            try:
                path = str(request["path"])
                fut = ctl.begin_load(path)
            except Exception as exc:
                return self._refusal(cmd, exc)
            return Deferred(fut, lambda: self._as(who, lambda: self._answer(
                cmd, lambda: loaded(ctl.finish_load(path, fut)))))
        return self._answer(cmd, lambda: self._dispatch(cmd, request))

    def _as(self, who: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``fn`` (a deferred reply) with its events stamped with ``who``."""
        with self.ctl.acting_for(who):
            return fn()

    def _answer(self, cmd: Any, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return fn()
        except Exception as exc:
            return self._refusal(cmd, exc)

    def _refusal(self, cmd: Any, exc: Exception) -> dict[str, Any]:
        """The reply for a command that raised; anything unexpected propagates (a bug: the
        service refuses that request and logs it, hil/service/server.py)."""
        if isinstance(exc, Refused):
            self.ctl.event("refused", cmd=cmd, reason=str(exc))
            return {"ok": False, "refused": str(exc)}
        if isinstance(exc, SequenceInvalid):
            return {"ok": False, "refused": "sequence check failed", "errors": [str(e) for e in exc.errors]}
        if isinstance(exc, (ConfigError, KeyError, ValueError, TypeError, ArithmeticError)):  # int(inf): Overflow
            return {"ok": False, "refused": f"bad request: {exc}"}
        raise exc

    def status(self) -> dict[str, Any]:
        """What a client shows in its status bar (published at 10 Hz, and the ``status`` reply)."""
        return status_of(self.ctl.snapshot())

    def _dispatch(self, cmd: Any, request: dict[str, Any]) -> dict[str, Any]:
        ctl = self.ctl
        if cmd == "ping":
            return {"ok": True, "t": ctl.snapshot(detail=False).t}
        if cmd == "status":
            return {"ok": True, **self.status()}
        if cmd == "meta":
            snap = ctl.snapshot(detail=False)
            return {"ok": True, **stand_meta(snap.stand, snap.redlines, snap.loop.rate_hz)}
        if cmd == "sequence":  # any station, authority or not: the loaded timeline
            seq = ctl.snapshot(detail=False).sequence
            if seq is None:
                raise Refused("no sequence loaded")
            return loaded(seq)
        if cmd == "loop_stats":
            snap = ctl.snapshot(detail=False, loop_summary=True, last_cycles=int(request.get("last", 10000)))
            return {"ok": True, **(snap.loop.summary or {})}
        if cmd == "abort":
            ctl.abort(str(request.get("reason") or "operator abort"), source=str(request.get("source", "client")))
            return {"ok": True, "state": ctl.snapshot(detail=False).state.name}
        if cmd == "arm":
            ctl.arm()
        elif cmd == "start":
            ctl.start()
            if request.get("watchdog_s") and request.get("client"):
                ctl.own_watchdog(str(request["client"]), float(request["watchdog_s"]))
        elif cmd == "answer":
            ctl.answer(int(request["index"]), str(request["answer"]), _who(request))
        elif cmd == "hold":
            ctl.hold(_who(request))
        elif cmd == "resume":
            ctl.resume(_who(request))
        elif cmd == "reset":
            ctl.reset()
        elif cmd == "set":
            v = ctl.set_output(str(request["name"]), float(request["value"]))
            return {"ok": True, "value": v}
        elif cmd == "checkout":
            job = ctl.begin_checkout(str(request["kind"]), _who(request), float(request.get("seconds", 3.0)))
            return {"ok": True, **job}
        elif cmd == "cancel_checkout":
            ctl.cancel_checkout(_who(request))
        elif cmd == "stop":
            ctl.stop()
        else:
            return {"ok": False, "refused": f"unknown command {cmd!r}"}
        return {"ok": True, "state": ctl.snapshot(detail=False).state.name}
