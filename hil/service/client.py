"""Client library for the controller service: commands with explicit acks, and telemetry.

Used by the GUI, scripts and tests. A command that gets no answer within the timeout raises
:class:`ControllerTimeout` and the REQ socket is rebuilt (ZeroMQ's "lazy pirate"), so a
client survives the controller restarting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import zmq

from hil.errors import ControllerTimeout
from hil.frames import decode_batch
from hil.service.auth import ClientKeys, secure_client
from hil.service.server import DEFAULT_PUB, DEFAULT_REP


@dataclass
class Telemetry:
    """One batch of rows: ``columns`` names them."""

    header: dict[str, Any]
    rows: np.ndarray


def parse_message(parts: list[bytes]) -> tuple[str, Any]:
    """One PUB message: ("tlm", Telemetry) | ("evt", dict) | ("status", dict)."""
    kind = parts[0].decode()
    if kind == "tlm":
        header, rows = decode_batch(parts[1], parts[2])
        return kind, Telemetry(header, rows)
    return kind, json.loads(parts[1])


class ControllerClient:
    """Talks to one controller process."""

    def __init__(self, rep: str = DEFAULT_REP, pub: str = DEFAULT_PUB, timeout_s: float = 2.0,
                 keys: ClientKeys | None = None, name: str | None = None) -> None:
        self.rep_endpoint, self.pub_endpoint, self.timeout_s = rep, pub, timeout_s
        self.keys = keys  # CURVE keys for a controller that requires them (hil/auth.py)
        self.ctx = zmq.Context.instance()
        self._req: zmq.Socket | None = None
        self._sub: zmq.Socket | None = None
        self.meta: dict[str, Any] | None = None
        import getpass
        import os
        import socket
        import uuid

        self.client_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"  # sent with every request
        # who this client says it is, for the run's events (answers, holds); with CURVE keys the
        # controller records the authenticated key name instead
        self.name = name or f"{getpass.getuser()}@{socket.gethostname()}"

    def _socket(self) -> zmq.Socket:
        if self._req is None:
            s = self.ctx.socket(zmq.REQ)
            s.setsockopt(zmq.LINGER, 0)
            secure_client(s, self.keys)
            s.connect(self.rep_endpoint)
            self._req = s
        return self._req

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        """Send a command; return the controller's reply dict (``ok`` true or a refusal)."""
        s = self._socket()
        s.send(json.dumps({"cmd": cmd, "client": self.client_id, "name": self.name, **args}).encode())
        if s.poll(int(self.timeout_s * 1000), zmq.POLLIN):
            return json.loads(s.recv())
        s.close(0)
        self._req = None
        raise ControllerTimeout(f"no answer to {cmd!r} from {self.rep_endpoint} within {self.timeout_s:g} s")

    # convenience wrappers: each returns the reply
    def status(self) -> dict[str, Any]:
        return self.request("status")

    def abort(self, reason: str = "operator abort") -> dict[str, Any]:
        return self.request("abort", reason=reason)

    def load(self, path: str) -> dict[str, Any]:
        return self.request("load", path=path)

    def arm(self) -> dict[str, Any]:
        return self.request("arm")

    def start(self, watchdog_s: float | None = None) -> dict[str, Any]:
        """START; with ``watchdog_s`` this client must be heard from that often during the run
        (any request; ``ping``) or the controller aborts it as a lost client."""
        return self.request("start", **({"watchdog_s": watchdog_s} if watchdog_s else {}))

    def reset(self) -> dict[str, Any]:
        return self.request("reset")

    def answer(self, index: int, answer: str) -> dict[str, Any]:
        """PROCEED or ABORT to the prompt ``index`` (the one the status says is pending)."""
        return self.request("answer", index=index, answer=answer)

    def hold(self) -> dict[str, Any]:
        return self.request("hold")

    # command authority (hil/controller/authority.py): one client commands, the others watch
    def take_authority(self) -> dict[str, Any]:
        return self.request("take_authority")

    def request_authority(self) -> dict[str, Any]:
        return self.request("request_authority")

    def hand_over(self) -> dict[str, Any]:
        """Hand command authority to the client that requested it."""
        return self.request("hand_over")

    def release_authority(self) -> dict[str, Any]:
        return self.request("release_authority")

    def resume(self) -> dict[str, Any]:
        return self.request("resume")

    def set_output(self, name: str, value: float) -> dict[str, Any]:
        return self.request("set", name=name, value=value)

    # telemetry ----------------------------------------------------------------------
    def checkout(self, kind: str, seconds: float | None = None) -> dict[str, Any]:
        """Start a checkout ("zero" or "valves") on the stand the controller holds (SAFE only;
        the valves move: confirm with the operator first)."""
        return self.request("checkout", kind=kind, **({"seconds": seconds} if seconds is not None else {}))

    def cancel_checkout(self) -> dict[str, Any]:
        return self.request("cancel_checkout")

    def subscribe(self) -> None:
        """Connect the SUB socket (messages published before this are not seen)."""
        if self._sub is None:
            s = self.ctx.socket(zmq.SUB)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.SUBSCRIBE, b"")
            secure_client(s, self.keys)
            s.connect(self.pub_endpoint)
            self._sub = s

    def receive(self, timeout_s: float = 1.0) -> tuple[str, Any] | None:
        """Next message: ("tlm", Telemetry) | ("evt", dict) | ("status", dict), or None."""
        self.subscribe()
        assert self._sub is not None
        if not self._sub.poll(int(timeout_s * 1000), zmq.POLLIN):
            return None
        parts = self._sub.recv_multipart()
        return parse_message(parts)

    def close(self) -> None:
        """Close both sockets."""
        for s in (self._req, self._sub):
            if s is not None:
                s.close(0)
        self._req = self._sub = None
