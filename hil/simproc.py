"""Start the simulated stand as a child process (``hil sim``), on loopback TCP or on one end of
a socat pty pair, and stop it by PID. Used by ``hil run --sim tcp|rtu``, ``hil gui`` and tests.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from hil.errors import HilError


class SimStartError(HilError):
    """The simulator (or socat) did not come up."""


def read_until(fd: int, needle: str, timeout: float = 30.0) -> str:
    """Read a child's pipe until ``needle`` appears (its readiness line); raises on timeout/EOF."""
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    text = ""
    try:
        while needle not in text:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(timeout=left):
                raise SimStartError(f"no {needle!r} within {timeout:g} s; got {text!r}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise SimStartError(f"child exited before {needle!r}; got {text!r}")
            text += chunk.decode(errors="replace")
    finally:
        sel.close()
    return text


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM when the process that started it dies, even by SIGKILL,
    so a crashed ``hil run`` never leaves a simulator serving on its own."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class SimChild:
    """A running simulator and, for RTU, its pty pair."""

    proc: subprocess.Popen
    port: int | None = None  # TCP port
    device: str | None = None  # the controller's end of the pty pair
    socat: subprocess.Popen | None = None
    tmpdir: str | None = None
    banner: str = ""
    log: list[str] = field(default_factory=list)

    def stop(self) -> str:
        """SIGINT the simulator (it prints its stop line), then socat; returns its output."""
        out = ""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        except ValueError:
            pass
        if self.socat is not None and self.socat.poll() is None:
            self.socat.terminate()
            self.socat.wait(timeout=5)
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        return out or ""

    def kill(self) -> None:
        """SIGKILL: the simulated firmware dies without a word (fault tests)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


def start_sim(stand: str | Path, mode: str = "tcp", *, seed: int | None = None, faults: tuple[str, ...] = (),
              baud: int = 115200, timeout: float = 30.0, rt_priority: int | None = None) -> SimChild:
    """Start ``hil sim`` for ``stand`` in ``mode`` ("tcp" or "rtu") and wait until it serves."""
    args = [sys.executable, "-m", "hil.cli", "sim", "--stand", str(stand)]
    if seed is not None:
        args += ["--seed", str(seed)]
    for f in faults:
        args += ["--fault", f]
    if rt_priority:  # below the controller's loop, which waits on it but must preempt it when runnable
        args += ["--rt-priority", str(max(1, rt_priority - 10))]
    socat = tmpdir = device = None
    if mode == "tcp":
        args += ["--tcp", "127.0.0.1:0"]
    elif mode == "rtu":
        if shutil.which("socat") is None:
            raise SimStartError("--sim rtu needs socat (Debian package socat) for a pty pair")
        tmpdir = tempfile.mkdtemp(prefix="hil-pty-")
        a, device = os.path.join(tmpdir, "sim"), os.path.join(tmpdir, "ctl")
        socat = subprocess.Popen(["socat", "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={device}"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        try:
            read_until(socat.stderr.fileno(), "starting data transfer loop", timeout)
        except SimStartError:
            socat.kill()
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        args += ["--tcp", "127.0.0.1:0", "--rtu", a, "--baud", str(baud)]
    else:
        raise ValueError(f"unknown simulator mode {mode!r}")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_die_with_parent)
    child = SimChild(proc, device=device, socat=socat, tmpdir=tmpdir)
    try:
        child.banner = read_until(proc.stdout.fileno(), "serving", timeout)
    except SimStartError as exc:
        child.kill()
        err = proc.stderr.read() if proc.stderr else ""
        child.stop()
        raise SimStartError(f"hil sim did not start: {exc}; stderr: {err.strip()}") from None
    if "Modbus TCP on " in child.banner:
        child.port = int(child.banner.split("Modbus TCP on ")[1].split(",")[0].split()[0].rsplit(":", 1)[1])
    return child
