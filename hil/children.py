"""One way to start a child process and find out where it is serving.

A child (``hil sim``, ``hil serve``) announces readiness with exactly one machine-readable line
on stdout, ``hil-ready {json}`` — its endpoints, its run directory — printed once everything is
bound. :func:`spawn` starts it, reads up to that line and hands back the parsed fields; nobody
parses the human-readable sentences around it. Children die with their parent (Linux
PR_SET_PDEATHSIG), so a crashed ``hil run`` never leaves a simulator serving on its own; they
are stopped by PID.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hil.errors import ChildStartError, ProtocolError
from hil.ptypair import PtyPair
from hil.readiness import READY, announce, die_with_parent, parse_ready, read_until

__all__ = ["READY", "Child", "PtyPair", "announce", "die_with_parent", "parse_ready", "read_until", "spawn",
           "start_sim"]

@dataclass
class Child:
    """A running child process, what it announced, and (for a simulator on RTU) its pty pair."""

    proc: subprocess.Popen[str]
    ready: dict[str, Any] = field(default_factory=dict)
    banner: str = ""  # everything it printed up to and including the readiness line
    pty: PtyPair | None = None
    ptys: dict[str, PtyPair] = field(default_factory=dict)  # serial line -> its pty pair (device stands)

    @property
    def port(self) -> int:
        """The Modbus TCP port a simulator serves on."""
        tcp = self.ready.get("tcp")
        if not tcp:
            raise ProtocolError(f"the child announced no TCP endpoint: {self.ready}")
        return int(str(tcp).rsplit(":", 1)[1])

    @property
    def device(self) -> str:
        """The controller's end of a simulator's pty pair."""
        if self.pty is None:
            raise ProtocolError("this child was started without a pty pair")
        return self.pty.b

    def wires(self) -> dict[str, dict[str, Any]]:
        """Each simulated serial line's bridge: how it was scheduled and, once stopped, how long
        the machine's pty layer held bytes (hil/ptypair.py); empty without one."""
        pairs = dict(self.ptys) | ({"rtu": self.pty} if self.pty is not None else {})
        return {name: {"scheduling": pair.scheduling, **pair.stalls} for name, pair in pairs.items()}

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> str:
        """Signal the child (it stops cleanly and prints its last line), wait, then release its
        pty pair; returns what it printed after the readiness line."""
        out = ""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        except ValueError:  # pipes already closed by an earlier stop
            pass
        if self.pty is not None:
            self.pty.close()
        for pair in self.ptys.values():
            pair.close()
        return out or ""

    def kill(self) -> None:
        """SIGKILL: the child dies without a word (fault tests)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


def spawn(args: list[str], *, timeout: float = 30.0, stderr: int | IO[str] = subprocess.PIPE,
          cwd: str | Path | None = None) -> Child:
    """Start ``python -m hil.cli ARGS`` and wait for its readiness line."""
    proc = subprocess.Popen([sys.executable, "-m", "hil.cli", *args], stdout=subprocess.PIPE, stderr=stderr,
                            text=True, cwd=cwd, preexec_fn=die_with_parent)
    child = Child(proc)
    try:
        assert proc.stdout is not None
        text = read_until(proc.stdout.fileno(), READY, timeout)
        if not text.endswith("\n"):
            text += read_until(proc.stdout.fileno(), "\n", timeout)
        child.banner = text
        child.ready = parse_ready(text)
    except (ChildStartError, ProtocolError) as exc:
        child.kill()
        err = proc.stderr.read() if proc.stderr is not None and stderr == subprocess.PIPE else ""
        child.stop()
        raise ChildStartError(f"hil {args[0]} did not start: {exc}" + (f"; stderr: {err.strip()}" if err else "")) \
            from None
    return child


def start_sim(stand: str | Path, mode: str = "tcp", *, seed: int | None = None, faults: tuple[str, ...] = (),
              baud: int = 115200, timeout: float = 30.0, rt_priority: int | None = None,
              extra: tuple[str, ...] = (), lines: tuple[str, ...] = ()) -> Child:
    """Start ``hil sim`` for ``stand`` on an ephemeral loopback port ("tcp"), and on one end of a
    pty pair as well ("rtu"), and wait until it serves. ``lines`` are the serial lines of a
    stand of several devices: each is served on a pty pair of its own."""
    if mode not in ("tcp", "rtu"):
        raise ValueError(f"unknown simulator mode {mode!r}")
    args = ["sim", "--stand", str(stand)]
    if seed is not None:
        args += ["--seed", str(seed)]
    for f in faults:
        args += ["--fault", f]
    if rt_priority:  # below the controller's loop, which waits on it but must preempt it when runnable
        args += ["--rt-priority", str(max(1, rt_priority - 10))]
    if "--tcp" not in extra:
        args += ["--tcp", "127.0.0.1:0"]
    pty = PtyPair.open(timeout) if mode == "rtu" else None
    if pty is not None:
        args += ["--rtu", pty.a, "--baud", str(baud)]
    ptys: dict[str, PtyPair] = {}
    try:
        for serial in lines:
            ptys[serial] = PtyPair.open(timeout)
            args += ["--line", f"{serial}={ptys[serial].a}"]
        child = spawn([*args, *extra], timeout=timeout)
    except ChildStartError:
        for pair in [pty, *ptys.values()]:
            if pair is not None:
                pair.close()
        raise
    child.pty = pty
    child.ptys = ptys
    return child
