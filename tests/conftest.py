"""Shared fixtures: real simulator processes on real sockets and pty pairs.

Qt must be told to render offscreen before anything imports it: with neither DISPLAY nor a
platform set, pytest would abort (reference/toolchain.md).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.children import Child, PtyPair, start_sim

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# operator settings (saved plot layouts) go to a directory of the test session's own, never the user's
os.environ.setdefault("HIL_CONFIG_DIR", tempfile.mkdtemp(prefix="hil-test-config-"))

ROOT = Path(__file__).resolve().parent.parent
STANDS = ROOT / "configs" / "stands"
TQ12 = STANDS / "sim_tq12.toml"
LAB = STANDS / "sim_lab.toml"


@pytest.fixture
def sim_factory() -> Iterator:
    """Start simulators on demand; every one is stopped by PID at teardown."""
    started: list[Child] = []

    def factory(stand: Path = TQ12, *extra: str) -> Child:
        sp = start_sim(stand, "tcp", extra=extra)
        started.append(sp)
        return sp

    yield factory
    for sp in started:
        sp.stop()


@pytest.fixture
def pty_pair() -> Iterator[PtyPair]:
    """A pty pair (hil/ptypair.py, no socat), the stand-in for an RS-485 line in tests."""
    pair = PtyPair.open()
    assert os.path.exists(pair.a) and os.path.exists(pair.b), "the pty pair has no device paths"
    yield pair
    pair.close()


@pytest.fixture
def mbpoll() -> str:
    """Debian's mbpoll: a Modbus master written by others."""
    path = shutil.which("mbpoll")
    if path is None:
        pytest.fail("mbpoll is not installed: .ci/run installs it (Debian package mbpoll)")
    return path


def mbpoll_values(out: str) -> dict[int, int]:
    """mbpoll's "[ref]: value" lines, as {ref: value}."""
    vals = {}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("[") and "]:" in line:
            ref, rest = line[1:].split("]:", 1)
            vals[int(ref)] = int(rest.split()[0])
    return vals


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a thread running (pymodbus's own practice). Daemon threads count
    too: the project's own (recorder, sequence loader, the CURVE authenticator) are daemons so a
    crash cannot hang the process, which is exactly why a leak would otherwise go unseen. A thread
    that is finishing gets a bounded join first."""
    before = set(threading.enumerate())
    yield
    new = [t for t in threading.enumerate() if t not in before]
    for t in new:
        t.join(timeout=5.0)
    leaked = [t for t in new if t.is_alive()]
    assert not leaked, f"test leaked threads: {leaked}"


@pytest.fixture
def controller(tmp_path):
    """A real controller process (`hil serve --sim tcp`) on ephemeral loopback ports."""
    from hil.gui.app import EmbeddedController

    ctl = EmbeddedController(TQ12, out=tmp_path / "session")
    yield ctl
    ctl.stop()


def skip_if_the_machine_stalled(summary: dict) -> None:  # a summary.json, or a row of hil.bench.load_runs
    """A real-time run that did not complete while this machine starved the simulated stand or
    held its serial line's bytes past the devices' timeout says so in its summary
    (``simulator.note``: firmware_sim/lateness.py; ``simulator.wire_note``: hil/ptypair.py).
    Such a run tells nothing about the controller: the test is skipped with that reason, not
    passed and not failed. A run that did not complete without either note fails as before."""
    if summary.get("outcome") == "completed":
        return
    sim = summary.get("simulator") or {}
    notes = [n for n in (sim.get("note"), sim.get("wire_note")) if n]
    if notes:
        reason = summary.get("fault_reason") or summary.get("abort_reason") or summary.get("reason")
        pytest.skip(f"this machine stalled the simulated stand, the run ended: {reason}")
