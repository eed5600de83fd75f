"""Telemetry and command service of the controller process (pyzmq).

- PUB ``tcp://127.0.0.1:<pub>``: multipart messages ``[b"tlm", header-json, rows]`` every
  ``publish_every`` cycles (rows: float64 array, columns time, state, step, pc_setpoint, t_seq, every
  channel, every command: the ``meta`` command names them), ``[b"evt", json]`` for every event, ``[b"status", json]`` at 10 Hz.
- REP ``tcp://127.0.0.1:<rep>``: JSON requests ``{"cmd": ...}`` answered with an explicit ack
  ``{"ok": true, ...}`` or refusal ``{"ok": false, "refused": reason}`` (hil/service/protocol.py).

The loop polls the REP socket without blocking once per cycle, so a slow client never delays
a cycle, and an ABORT waits at most one cycle. Both sockets bind loopback unless told
otherwise; a network-facing bind is refused unless the service has CURVE keys (hil/auth.py),
and with keys only authorised clients get replies or telemetry, on loopback too.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import zmq

from hil.controller import Controller
from hil.cycle import CycleState
from hil.frames import encode_batch
from hil.service.auth import ServerAuth, ServerKeys, check_bind
from hil.service.protocol import CommandProtocol, Deferred

DEFAULT_REP = "tcp://127.0.0.1:5556"
DEFAULT_PUB = "tcp://127.0.0.1:5557"


class Service:
    """Bound sockets plus the loop's client link (:class:`hil.cycle.loop.ClientLink`). Made by the
    controller, which passes itself in: ``Controller(..., link=lambda c: Service(c, ...))``."""

    def __init__(self, controller: Controller, rep: str = DEFAULT_REP, pub: str = DEFAULT_PUB,
                 status_every_s: float = 0.1, keys: ServerKeys | None = None) -> None:
        check_bind(rep, keys)
        check_bind(pub, keys)
        self.protocol = CommandProtocol(controller)
        self.ctx = zmq.Context.instance()
        self.auth = ServerAuth(self.ctx, keys) if keys else None
        self.rep = self.ctx.socket(zmq.REP)
        self.rep.setsockopt(zmq.LINGER, 0)
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.setsockopt(zmq.SNDHWM, 2000)
        try:
            if self.auth:
                self.auth.secure(self.rep)
                self.auth.secure(self.pub)
            self.rep_endpoint = self._bind(self.rep, rep)
            self.pub_endpoint = self._bind(self.pub, pub)
        except BaseException:
            self.close()
            raise
        self.authenticated = keys is not None
        self.status_every_s = status_every_s
        self._last_status = -1.0
        controller.add_listener(self._event)
        self.requests = 0
        self._deferred: Deferred | None = None

    @staticmethod
    def _bind(sock: zmq.Socket, endpoint: str) -> str:
        if endpoint.endswith(":0"):
            port = sock.bind_to_random_port(endpoint[:-2])
            return f"{endpoint[:-2]}:{port}"
        sock.bind(endpoint)
        return endpoint

    def serve(self, cs: CycleState) -> None:
        """Answer every request already waiting (never blocks). A reply that needs work off the
        loop thread (loading a sequence) is held until that work is done; the REP socket takes
        no new request meanwhile, which only happens in SAFE, where loads are accepted."""
        if self._deferred is not None:
            if self._deferred.future.done():
                done, self._deferred = self._deferred.finish(), None
                self.rep.send(json.dumps(done, default=str).encode())
        for _ in range(8):
            if self._deferred is not None:
                break
            try:
                frame = self.rep.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            self.requests += 1
            try:
                req = json.loads(frame.bytes)
                if not isinstance(req, dict):
                    raise ValueError("request must be a JSON object")
                req.pop("_user", None)  # only the authenticator says who a peer is
                if self.auth is not None:
                    req["_user"] = self.auth.name_of(str(frame.get("User-Id")))
                reply: dict[str, Any] | Deferred = self.protocol.handle(req)
            except (ValueError, TypeError) as exc:
                reply = {"ok": False, "refused": f"bad request: {exc}"}
            except Exception as exc:  # a bug met by one request must not stop the loop that safes the stand
                self.protocol.ctl.event("exception", error=repr(exc), where="service request")
                reply = {"ok": False, "refused": f"controller error on this request: {exc!r}"}
            if isinstance(reply, Deferred):
                self._deferred = reply
                continue
            self.rep.send(json.dumps(reply, default=str).encode())
        if cs.t - self._last_status >= self.status_every_s:
            self._last_status = cs.t
            self.pub.send_multipart([b"status", json.dumps(self.protocol.status(), default=str).encode()], zmq.NOBLOCK)

    def publish(self, cs: CycleState, rows: np.ndarray) -> None:
        """A batch of rows to every subscriber (dropped, not queued without bound, if they lag)."""
        try:
            self.pub.send_multipart(encode_batch(rows, pc_setpoint=cs.pc_setpoint), zmq.NOBLOCK)
        except zmq.Again:
            pass

    def _event(self, t: float, kind: str, fields: dict[str, Any]) -> None:
        try:
            wall = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            self.pub.send_multipart([b"evt", json.dumps({"t": t, "wall": wall, "kind": kind, **fields},
                                                        default=str).encode()], zmq.NOBLOCK)
        except zmq.Again:
            pass

    def close(self) -> None:
        """Unbind both sockets and stop the authenticator."""
        self.rep.close(0)
        self.pub.close(0)
        if self.auth:
            self.auth.stop()
            self.auth = None
