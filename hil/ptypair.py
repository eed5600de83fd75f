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
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
import tty
from dataclasses import dataclass

from hil.errors import ChildStartError
from hil.readiness import die_with_parent, read_until

READY = "pty-pair-ready"


@dataclass
class PtyPair:
    """``a`` is the simulator's end, ``b`` the controller's (symlinks to /dev/pts/N in a private
    directory); ``proc`` is the bridge."""

    a: str
    b: str
    proc: subprocess.Popen[bytes]
    tmpdir: str

    @classmethod
    def open(cls, timeout: float = 10.0) -> PtyPair:
        """Make the pair and wait until its bridge runs."""
        d = tempfile.mkdtemp(prefix="hil-pty-")
        proc = subprocess.Popen([sys.executable, "-m", "hil.ptypair", d], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=die_with_parent)
        pair = cls(os.path.join(d, "sim"), os.path.join(d, "ctl"), proc, d)
        try:
            assert proc.stdout is not None
            read_until(proc.stdout.fileno(), READY, timeout)
        except ChildStartError as exc:
            err = proc.stderr.read().decode(errors="replace") if proc.poll() is not None and proc.stderr else ""
            pair.close()
            raise ChildStartError(f"the pty pair did not start: {exc} {err}".strip()) from None
        return pair

    def close(self) -> None:
        """Stop the bridge and remove the paths; safe to call twice."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def bridge(directory: str) -> None:
    """The bridge process: make the pair, link ``DIR/sim`` and ``DIR/ctl`` to it, say so on stdout,
    copy bytes both ways until terminated."""
    ma, sa = os.openpty()
    mb, sb = os.openpty()
    for fd in (sa, sb):
        tty.setraw(fd)  # no echo, no line discipline: bytes pass as they are
    os.symlink(os.ttyname(sa), os.path.join(directory, "sim"))
    os.symlink(os.ttyname(sb), os.path.join(directory, "ctl"))
    for fd in (ma, mb):
        os.set_blocking(fd, False)
    print(READY, flush=True)
    other = {ma: mb, mb: ma}
    while True:
        ready, _, _ = select.select([ma, mb], [], [])
        for fd in ready:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                continue
            while data:
                try:
                    n = os.write(other[fd], data)
                except BlockingIOError:
                    break  # the far end's buffer is full: nobody is listening, the bytes are lost
                data = data[n:]


if __name__ == "__main__":
    bridge(sys.argv[1])
