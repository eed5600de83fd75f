"""Two linked pseudo-terminals made in Python, the stand-in for a serial line: what one end writes
the other reads, and each end is a real serial device path for pyserial.

Why not socat: the product's default stand (a simulated RS-485 line) then needed a Debian
package to run at all, and socat's pair showed no more than two os.openpty() pairs bridged by a
thread do: each master's bytes are copied to the other master. The pair keeps both slave ends
open itself, so an end may be closed and reopened (a controller reconnecting) without the
bridge seeing end-of-file; bytes written while nobody reads the far end are dropped when the
terminal's buffer is full, as a wire with nobody listening would drop them.
"""

from __future__ import annotations

import os
import select
import shutil
import tempfile
import threading
import tty
from dataclasses import dataclass, field

from hil.errors import ChildStartError


@dataclass
class PtyPair:
    """``a`` is the simulator's end, ``b`` the controller's (symlinks to /dev/pts/N in a private
    directory); bytes cross in both directions through a bridge thread."""

    a: str
    b: str
    tmpdir: str
    _fds: list[int] = field(default_factory=list, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _stop_w: int = -1
    bytes_bridged: int = 0

    @classmethod
    def open(cls, timeout: float = 10.0) -> PtyPair:
        """Make the pair and start its bridge (``timeout`` is kept for the callers of socat's pair)."""
        d = tempfile.mkdtemp(prefix="hil-pty-")
        fds: list[int] = []
        try:
            ma, sa = os.openpty()
            fds += [ma, sa]
            mb, sb = os.openpty()
            fds += [mb, sb]
            for fd in (sa, sb):
                tty.setraw(fd)  # no echo, no line discipline: bytes pass as they are
            a, b = os.path.join(d, "sim"), os.path.join(d, "ctl")
            os.symlink(os.ttyname(sa), a)
            os.symlink(os.ttyname(sb), b)
            stop_r, stop_w = os.pipe()
            fds += [stop_r, stop_w]
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            shutil.rmtree(d, ignore_errors=True)
            raise ChildStartError(f"cannot make a pty pair: {exc}") from exc
        for fd in (ma, mb):
            os.set_blocking(fd, False)
        pair = cls(a, b, d, fds, None, stop_w)
        pair._thread = threading.Thread(target=pair._bridge, args=(ma, mb, stop_r), name=f"pty pair {d}",
                                        daemon=True)
        pair._thread.start()
        return pair

    def _bridge(self, ma: int, mb: int, stop: int) -> None:
        other = {ma: mb, mb: ma}
        while True:
            try:
                ready, _, _ = select.select([ma, mb, stop], [], [])
            except (OSError, ValueError):
                return
            if stop in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except BlockingIOError:
                    continue
                except OSError:  # EIO: cannot happen while we hold the slave ends; stop cleanly
                    return
                while data:
                    try:
                        n = os.write(other[fd], data)
                    except BlockingIOError:
                        break  # the far end's buffer is full: nobody is listening, the bytes are lost
                    except OSError:
                        return
                    self.bytes_bridged += n
                    data = data[n:]

    def close(self) -> None:
        """Stop the bridge and release both terminals; safe to call twice."""
        if self._thread is not None:
            os.write(self._stop_w, b"x")
            self._thread.join(timeout=5.0)
            self._thread = None
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        shutil.rmtree(self.tmpdir, ignore_errors=True)
