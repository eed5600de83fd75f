"""Modbus TCP: MBAP frames from pymodbus over a plain blocking socket with TCP_NODELAY."""

from __future__ import annotations

import socket
import time

from pymodbus.framer import FramerSocket

from hil.errors import TransportError, TransportTimeout
from hil.stand import TransportConfig
from hil.transport.answers import Request
from hil.transport.framed import BadStream, FramedTransport


class TcpTransport(FramedTransport):
    """One TCP connection to a Modbus server."""

    name = "tcp"

    def __init__(self, cfg: TransportConfig) -> None:
        super().__init__(FramerSocket, cfg.unit, cfg.timeout_s, cfg.retries)
        self.host, self.port = cfg.host, cfg.port
        self.link = cfg
        self.sock: socket.socket | None = None
        self.tcp = True

    def _open(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=max(self.timeout_s, 1.0))
        except OSError as exc:
            raise TransportError(f"cannot connect to Modbus TCP {self.host}:{self.port}: {exc.strerror or exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.timeout_s)
        self.sock = sock

    def _close(self) -> None:
        self._pending = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _send(self, frame: bytes) -> None:
        assert self.sock is not None
        try:
            self.sock.sendall(frame)
        except OSError as exc:
            raise TransportError(f"send to {self.host}:{self.port} failed: {exc}") from exc

    def _receive(self, req: Request) -> list[int]:
        assert self.sock is not None
        deadline = time.monotonic() + self.timeout_s
        buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                # a late answer would arrive on the next request: drop the connection instead
                self.close()
                raise TransportTimeout(f"no answer from {self.host}:{self.port} unit {self.unit} "
                                       f"within {self.timeout_s * 1000:.0f} ms")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError as exc:
                self.close()
                raise TransportError(f"receive from {self.host}:{self.port} failed: {exc}") from exc
            if not chunk:
                self.close()
                raise TransportError(f"{self.host}:{self.port} closed the connection")
            buf += chunk
            try:
                used, values = self._scan_mbap(buf, req)
            except BadStream:
                self.close()
                raise
            buf = buf[used:]
            if values is not None:
                return values
