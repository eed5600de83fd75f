"""The console's link to the controller process, kept off the GUI thread's critical path.

Commands go through a worker thread (a request waits up to its timeout for the controller; the
window must not), ABORT jumps the queue. Telemetry is drained from the SUB socket by a timer in
the GUI thread without blocking (recv with NOBLOCK until empty). A controller that restarts is
picked up again: ZeroMQ reconnects by itself and the console re-asks for the column layout.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import zmq
from PySide6.QtCore import QObject, Signal

from hil.errors import ControllerTimeout
from hil.service.auth import ClientKeys, secure_client
from hil.service.client import ControllerClient, parse_message

PING_S = 0.5  # the console is heard from every 0.5 s ...
CLIENT_WATCHDOG_S = 3.0  # ... and asks the controller to abort a run it started after 3 s of silence


class CommandLink(QObject):
    """Send commands without blocking the GUI; replies arrive as a signal."""

    reply = Signal(str, dict)  # (command, reply dict)

    def __init__(self, rep: str, pub: str, timeout_s: float = 3.0, keys: ClientKeys | None = None,
                 name: str = "console") -> None:
        super().__init__()
        self.rep, self.pub, self.keys = rep, pub, keys
        self.name = name  # the station: what the controller's events call this console
        self._q: queue.PriorityQueue[tuple[int, int, str, dict[str, Any]]] = queue.PriorityQueue()
        self._n = 0
        self._stop = threading.Event()
        import os
        import uuid

        self.client_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"  # what the controller knows this console by
        self._thread = threading.Thread(target=self._run, args=(timeout_s,), name="gui-commands", daemon=True)
        self._thread.start()

    def pending(self) -> int:
        """Commands not yet sent."""
        return self._q.qsize()

    def send(self, cmd: str, **args: Any) -> None:
        """Queue a command; ABORT goes ahead of everything else."""
        self._n += 1
        self._q.put((0 if cmd == "abort" else 1, self._n, cmd, args))

    def _run(self, timeout_s: float) -> None:
        import time

        client = ControllerClient(self.rep, self.pub, timeout_s=timeout_s, keys=self.keys, name=self.name)
        client.client_id = self.client_id
        last = time.monotonic()
        while not self._stop.is_set():
            try:
                _, _, cmd, args = self._q.get(timeout=0.1)
            except queue.Empty:
                if time.monotonic() - last > PING_S:  # keep the controller's lost-client watch fed
                    last = time.monotonic()
                    try:
                        client.request("ping")
                    except (ControllerTimeout, zmq.ZMQError):
                        pass
                continue
            last = time.monotonic()
            if cmd == "__quit__":
                break
            try:
                rep = client.request(cmd, **args)
            except ControllerTimeout as exc:
                rep = {"ok": False, "refused": str(exc), "timeout": True}
            except zmq.ZMQError as exc:
                rep = {"ok": False, "refused": f"link error: {exc}"}
            self.reply.emit(cmd, rep)
        client.close()

    def close(self) -> None:
        self._stop.set()
        self._q.put((2, 0, "__quit__", {}))
        self._thread.join(timeout=5)


class TelemetrySource:
    """Non-blocking drain of the controller's PUB socket."""

    def __init__(self, pub: str, keys: ClientKeys | None = None) -> None:
        self.ctx = zmq.Context.instance()
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, 10000)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        secure_client(self.sub, keys)
        self.sub.connect(pub)

    def drain(self, limit: int = 2000) -> list[tuple[str, Any]]:
        """Every message already waiting (up to ``limit``)."""
        out: list[tuple[str, Any]] = []
        for _ in range(limit):
            try:
                parts = self.sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            out.append(parse_message(parts))
        return out

    def close(self) -> None:
        self.sub.close(0)
