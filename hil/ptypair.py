"""Two linked pseudo-terminals made in Python, the stand-in for a serial line: what one end writes
the other reads, and each end is a real serial device path for pyserial.

Why not socat: the product's default stand (a simulated RS-485 line) then needed a Debian
package to run at all. Here two os.openpty() pairs are bridged — each master's bytes copied to
the other master — by a small process of our own (``python -m hil.ptypair DIR``), not a thread
of the caller's: every byte of the line would otherwise wait for the controller's GIL twice, on
the busy machine where late answers matter most. The bridge keeps both slave ends open itself,
so an end may be closed and reopened (a controller reconnecting) without end-of-file; bytes
written while nobody reads the far end are dropped once that terminal's buffer is full, as a
wire with nobody listening would drop them. It dies with its parent and is stopped by PID.

The machine can hold a line's bytes all the same. Beside two CPU-bound processes on this 2-core
VM the bytes of the lab relight over RTU stood still both ways for 99-2476 ms while the
controller and the simulator were each a few ms late, and the firmware watchdog safed the stand.
The bridge's probe (:class:`Stalls`) measures it, and the run's reason names it
(:func:`stalled`). Asking SCHED_FIFO for the bridge (``realtime``, :data:`WIRE_PRIORITY`) did
not remove it — 3 of 6 relights completed against 2 of 6 at normal priority, and a FIFO
bridge still saw a 2476 ms stall with the controller's loop at most 9 ms late: the bytes wait in the kernel (a pty hands them on from a worker thread), not for the
bridge (``python -m hil.bench.wire_stall``, docs/bench/wire-stall-20261207-2hogs.json) — so
it runs at normal priority unless asked.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tty
from dataclasses import dataclass, field
from typing import Any

from hil.errors import ChildStartError
from hil.readiness import die_with_parent, read_until

READY = "pty-pair-ready"
STALLS = "pty-pair stalls "  # the bridge's last line: how long the pty layer held the probe's bytes
PROBE_S = 0.005
STALL_THRESHOLDS_MS = ("5", "30", "100")
WIRE_PRIORITY = 70  # above `--rt-priority 50` (the loop) and the simulator's 40 below it
WIRE_ENV = "HIL_WIRE_SCHEDULING"


@dataclass
class PtyPair:
    """``a`` is the simulator's end, ``b`` the controller's (symlinks to /dev/pts/N in a private
    directory); ``proc`` is the bridge."""

    a: str
    b: str
    proc: subprocess.Popen[bytes]
    tmpdir: str
    scheduling: str = ""  # how the bridge is scheduled: "SCHED_FIFO 70" or "normal (why)"
    stalls: dict[str, Any] = field(default_factory=dict)  # the probe's figures, once closed (Stalls)

    @classmethod
    def open(cls, timeout: float = 10.0, realtime: bool | None = None) -> PtyPair:
        """Make the pair and wait until its bridge runs. ``realtime=True`` (or, by default,
        ``HIL_WIRE_SCHEDULING=fifo`` in the environment, which reaches the pairs ``hil run``
        makes) asks for SCHED_FIFO for the bridge: the benchmark that compares the two
        (bench/wire_stall.py) uses it."""
        if realtime is None:
            realtime = os.environ.get(WIRE_ENV, "") == "fifo"
        d = tempfile.mkdtemp(prefix="hil-pty-")
        args = [sys.executable, "-m", "hil.ptypair", d] + ([] if realtime else ["--normal"])
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=die_with_parent)
        pair = cls(os.path.join(d, "sim"), os.path.join(d, "ctl"), proc, d)
        try:
            assert proc.stdout is not None
            said = read_until(proc.stdout.fileno(), READY, timeout)
            while "\n" not in said.split(READY, 1)[1]:  # the rest of the line: how it is scheduled
                said += read_until(proc.stdout.fileno(), "\n", timeout)
            pair.scheduling = said.split(READY, 1)[1].strip()
        except ChildStartError as exc:
            err = proc.stderr.read().decode(errors="replace") if proc.poll() is not None and proc.stderr else ""
            pair.close()
            raise ChildStartError(f"the pty pair did not start: {exc} {err}".strip()) from None
        return pair

    def close(self) -> None:
        """Stop the bridge (it says what its probe saw: :attr:`stalls`) and remove the paths;
        safe to call twice."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
            if self.proc.stdout is not None and not self.proc.stdout.closed:
                for line in self.proc.stdout.read().decode(errors="replace").splitlines():
                    if line.startswith(STALLS):
                        self.stalls = json.loads(line[len(STALLS):])
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def stalled(wires: dict[str, dict[str, Any]], timeout_s: float) -> str:
    """Why a simulated serial line could not carry a run ('' if it could): the pty layer held
    bytes for at least the devices' timeout, which no controller can ride out."""
    worst = max((float(w.get("delivery_max_ms", 0.0)) for w in wires.values()), default=0.0)
    if worst < timeout_s * 1e3:
        return ""
    return (f"the simulated serial line stalled: this machine held its bytes up to {worst:.0f} ms, in the pty "
            f"layer or an unscheduled bridge (the devices' timeout is {timeout_s * 1e3:.0f} ms)")


def _wire_scheduling() -> str:
    """SCHED_FIFO at WIRE_PRIORITY if the machine allows it; what the bridge got."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(WIRE_PRIORITY))
    except (PermissionError, OSError) as exc:
        return f"normal ({exc.strerror or exc})"
    return f"SCHED_FIFO {WIRE_PRIORITY}"


@dataclass
class Stalls:
    """How long the machine held the line's bytes: the bridge sends one byte every PROBE_S
    through a pty loopback of its own and times its arrival from when it was due. The line's
    bytes take the same kernel path (a pty hands them on from a kernel worker) and the same
    bridge, so when the probe waited — the worker or the bridge not scheduled — so did they;
    the bridge cannot see the line's own bytes waiting in the kernel."""

    probes: int = 0
    max_ms: float = 0.0
    over: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STALL_THRESHOLDS_MS, 0))

    def add(self, ms: float) -> None:
        self.probes += 1
        self.max_ms = max(self.max_ms, ms)
        for th in self.over:
            if ms > float(th):
                self.over[th] += 1

    def as_dict(self) -> dict[str, Any]:
        return {"probes": self.probes, "delivery_max_ms": round(self.max_ms, 2),
                **{f"delivery_over_{th}ms": n for th, n in self.over.items()}}


def bridge(directory: str, realtime: bool = True) -> None:
    """The bridge process: make the pair, link ``DIR/sim`` and ``DIR/ctl`` to it, say so on stdout,
    copy bytes both ways and probe the pty layer until terminated, then print what the probe saw
    (:data:`STALLS` and JSON)."""
    ma, sa = os.openpty()
    mb, sb = os.openpty()
    pm, ps = os.openpty()  # the probe's own loopback
    for fd in (sa, sb, ps):
        tty.setraw(fd)  # no echo, no line discipline: bytes pass as they are
    os.symlink(os.ttyname(sa), os.path.join(directory, "sim"))
    os.symlink(os.ttyname(sb), os.path.join(directory, "ctl"))
    for fd in (ma, mb, ps):
        os.set_blocking(fd, False)
    stalls = Stalls()

    def report(*_: object) -> None:
        print(STALLS + json.dumps(stalls.as_dict()), flush=True)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, report)
    print(READY, _wire_scheduling() if realtime else "normal", flush=True)
    other = {ma: mb, mb: ma}
    due = 0.0  # when the probe byte in flight was due to be sent (0: none in flight)
    next_probe = time.monotonic()
    while True:
        now = time.monotonic()
        if not due and now >= next_probe:
            os.write(pm, b"\x55")
            due, next_probe = next_probe, now + PROBE_S
        wait = None if due else max(0.0, next_probe - now)
        ready, _, _ = select.select([ma, mb, ps], [], [], wait)
        for fd in ready:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                continue
            if fd == ps:  # from when it was due: a bridge not scheduled holds the line's bytes too
                stalls.add((time.monotonic() - due) * 1e3)
                due = 0.0
                continue
            while data:
                try:
                    n = os.write(other[fd], data)
                except BlockingIOError:
                    break  # the far end's buffer is full: nobody is listening, the bytes are lost
                data = data[n:]


if __name__ == "__main__":
    bridge(sys.argv[1], realtime="--normal" not in sys.argv[2:])
