"""A Modbus TCP device of our own for tests: a listener on 127.0.0.1 that cuts each complete
MBAP request out of the stream and answers it with ``reply(tid, unit, pdu)`` — whatever bytes
the test wants, right, wrong or garbage. Written from the protocol, not from our transport."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable

TcpReply = Callable[[int, int, bytes], bytes]  # (transaction id, unit, request PDU) -> bytes to send


class ScriptedTcpDevice:
    """One connection at a time; ``reply`` may be replaced between requests."""

    def __init__(self, reply: TcpReply = lambda tid, unit, pdu: b"") -> None:
        self.reply = reply
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.srv.settimeout(0.05)
        self.port = self.srv.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.srv.accept()
            except TimeoutError:
                continue
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        buf = b""
        while not self._stop.is_set():
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while len(buf) >= 7 and len(buf) >= 6 + struct.unpack(">H", buf[4:6])[0]:
                n = 6 + struct.unpack(">H", buf[4:6])[0]
                req, buf = buf[:n], buf[n:]
                try:
                    conn.sendall(self.reply(struct.unpack(">H", req[:2])[0], req[6], req[7:]))
                except OSError:
                    return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.srv.close()
