"""Shared fixtures: real simulator processes on real sockets and pty pairs.

Qt must be told to render offscreen before anything imports it: with neither DISPLAY nor a
platform set, pytest would abort (reference/toolchain.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hil.simproc import SimChild, SimStartError, read_until

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
STANDS = ROOT / "configs" / "stands"
TQ12 = STANDS / "sim_tq12.toml"
LAB = STANDS / "sim_lab.toml"


def start_sim(stand: Path, *extra: str) -> SimChild:
    """Start ``hil sim`` on an ephemeral loopback port and wait for its banner."""
    args = [sys.executable, "-m", "hil.cli", "sim", "--stand", str(stand)]
    if "--tcp" not in extra:
        args += ["--tcp", "127.0.0.1:0"]
    proc = subprocess.Popen([*args, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        banner = read_until(proc.stdout.fileno(), "serving")
    except SimStartError:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"hil sim did not start: {err}") from None
    port = None
    if "Modbus TCP on " in banner:
        port = int(banner.split("Modbus TCP on ")[1].split(",")[0].rsplit(":", 1)[1])
    return SimChild(proc, port=port, banner=banner)


@pytest.fixture
def sim_factory() -> Iterator:
    """Start simulators on demand; every one is stopped by PID at teardown."""
    started: list[SimChild] = []

    def factory(stand: Path = TQ12, *extra: str) -> SimChild:
        sp = start_sim(stand, *extra)
        started.append(sp)
        return sp

    yield factory
    for sp in started:
        sp.stop()


@dataclass
class PtyPair:
    """Two linked pseudo-terminals from socat: what one writes the other reads."""

    a: str
    b: str
    proc: subprocess.Popen


@pytest.fixture
def pty_pair() -> Iterator[PtyPair]:
    """A socat pty pair, the stand-in for an RS-485 line in tests."""
    if shutil.which("socat") is None:
        pytest.fail("socat is not installed: .ci/run installs it (Debian package socat)")
    d = tempfile.mkdtemp(prefix="hilpty")
    a, b = os.path.join(d, "a"), os.path.join(d, "b")
    proc = subprocess.Popen(["socat", "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # socat reports each pty as it creates it, then "starting data transfer loop".
    try:
        read_until(proc.stderr.fileno(), "starting data transfer loop", timeout=10)
    except SimStartError:
        proc.kill()
        raise
    assert os.path.exists(a) and os.path.exists(b), "socat did not create the pty pair"
    yield PtyPair(a, b, proc)
    proc.terminate()
    proc.wait(timeout=5)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a non-daemon thread running (pymodbus's own practice)."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
    assert not leaked, f"test leaked threads: {leaked}"


@pytest.fixture
def controller(tmp_path):
    """A real controller process (`hil serve --sim tcp`) on ephemeral loopback ports."""
    from gui.app import EmbeddedController

    ctl = EmbeddedController(TQ12, out=tmp_path / "session")
    yield ctl
    ctl.stop()
