"""The lean floor: the least a Python asyncio Modbus TCP server does per request (split the
stream into MBAP frames, answer a register read with constant registers), in its own process.
Our simulator answers the same read from a live plant; the ratio of their request rates,
measured back to back by the same raw-socket client, says how much of the machine the
simulator's own overhead costs (issue 14's target: >= 0.7x).

    python -m hil.bench.lean_server          # prints "port N", serves until SIGTERM
"""

from __future__ import annotations

import asyncio
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from typing import Any

_MBAP = struct.Struct(">HHHB")


class _Lean(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.answers: dict[int, bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while len(buf) >= 12:
            tid, _, length, unit = _MBAP.unpack_from(buf)
            fc, count = buf[7], struct.unpack_from(">H", buf, 10)[0]
            del buf[: 6 + length]
            body = self.answers.get(count)
            if body is None:
                body = self.answers[count] = bytes((2 * count,)) + bytes(2 * count)
            pdu = bytes((fc,)) + body if fc in (3, 4) else bytes((fc | 0x80, 1))
            assert self.transport is not None
            self.transport.write(_MBAP.pack(tid, 0, len(pdu) + 1, unit) + pdu)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Lean, "127.0.0.1", 0)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def start_lean() -> tuple[subprocess.Popen[str], int]:
    """The floor server in a child process, and its port (read from its first line)."""
    proc = subprocess.Popen([sys.executable, "-m", "hil.bench.lean_server"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("port "):
        proc.kill()
        raise RuntimeError(f"the lean floor server did not start: {line!r}")
    return proc, int(line.split()[1])


def request_rate(port: int, count: int, seconds: float, function: int = 4) -> dict[str, Any]:
    """One request at a time (as the loop sends them) for ``seconds``: requests/s and the
    request-to-answer latency percentiles."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    want = 9 + 2 * count
    lat: list[float] = []
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    now = t0
    while now < end:
        s.sendall(struct.pack(">HHHBBHH", n & 0xFFFF, 0, 6, 1, function, 0, count))
        buf = b""
        while len(buf) < want:
            chunk = s.recv(4096)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buf += chunk
        if buf[7] != function:
            raise RuntimeError(f"exception answer {buf[7:9].hex()} to a {count}-register read")
        t = time.perf_counter()
        lat.append(t - now)
        now = t
        n += 1
    s.close()
    lat.sort()
    return {"requests_per_s": n / (now - t0), "p50_us": 1e6 * statistics.median(lat),
            "p99_us": 1e6 * lat[int(0.99 * (len(lat) - 1))], "max_us": 1e6 * lat[-1], "requests": n}


def server_vs_floor(seconds: float, count: int = 32, rounds: int = 3) -> dict[str, Any]:
    """Our simulator (TQ-12 stand, plant scanning) and the lean floor, answering the same
    ``count``-register read, alternated ``rounds`` times so that a drift of the machine's speed
    hits both; medians over rounds, and their ratio."""
    from hil.catalog import find_stand
    from hil.children import start_sim

    lean, port = start_lean()
    sim = start_sim(find_stand("sim_tq12"), "tcp")
    try:
        floor: list[dict[str, Any]] = []
        mine: list[dict[str, Any]] = []
        for _ in range(rounds):
            floor.append(request_rate(port, count, seconds))
            mine.append(request_rate(sim.port, count, seconds))
    finally:
        sim.stop()
        lean.terminate()
        lean.wait()

    def med(rows: list[dict[str, Any]]) -> dict[str, float]:
        return {k: statistics.median(r[k] for r in rows) for k in ("requests_per_s", "p50_us", "p99_us", "max_us")}

    out: dict[str, Any] = {"registers": count, "seconds_per_round": seconds, "rounds": rounds, "lean_floor": med(floor),
           "simulator": med(mine), "samples": {"lean_floor": floor, "simulator": mine}}
    out["ratio_to_floor"] = out["simulator"]["requests_per_s"] / out["lean_floor"]["requests_per_s"]
    return out


if __name__ == "__main__":
    asyncio.run(_serve())
