"""The pty pair made in Python (hil/ptypair.py) behaves as a serial line between two programs,
with no socat anywhere: bytes cross both ways through pyserial on both ends, an end can be closed
and reopened (a controller reconnecting), and closing the pair stops its bridge process and
removes its paths."""

from __future__ import annotations

import os
import shutil
import signal
import time

import serial

from hil.ptypair import WIRE_PRIORITY, PtyPair, stalled


def _read(port: serial.Serial, n: int, timeout: float = 5.0) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        port.timeout = max(0.0, deadline - time.monotonic())
        got += port.read(n - len(got))
    return got


def test_bytes_cross_both_ways_without_socat(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no socat (nor anything else) to be found
    assert shutil.which("socat") is None
    pair = PtyPair.open()
    try:
        with serial.Serial(pair.a, 115200, timeout=1) as sim, serial.Serial(pair.b, 115200, timeout=1) as ctl:
            payload = bytes(range(256)) * 4  # every byte value, binary-clean (raw mode, no echo)
            ctl.write(payload)
            assert _read(sim, len(payload)) == payload
            sim.write(b"\x03\x04\x02\x00\x07")
            assert _read(ctl, 5) == b"\x03\x04\x02\x00\x07"
        with serial.Serial(pair.b, 115200, timeout=1) as ctl:  # the controller reconnects
            with serial.Serial(pair.a, 115200, timeout=1) as sim:
                sim.write(b"again")
                assert _read(ctl, 5) == b"again"
    finally:
        pair.close()
    assert not os.path.exists(pair.a) and not os.path.exists(pair.b)
    assert pair.proc.poll() is not None
    pair.close()  # twice is fine


def test_the_bridge_says_how_it_is_scheduled() -> None:
    """A wire is never late: the bridge asks for SCHED_FIFO where the machine allows it, and
    what it got is what the kernel has it at; asked for normal, it stays there."""
    for realtime in (True, False):
        pair = PtyPair.open(realtime=realtime)
        try:
            policy = os.sched_getscheduler(pair.proc.pid)
            if pair.scheduling.startswith("SCHED_FIFO"):
                assert realtime and policy == os.SCHED_FIFO
                assert os.sched_getparam(pair.proc.pid).sched_priority == WIRE_PRIORITY
            else:
                assert pair.scheduling.startswith("normal") and policy == os.SCHED_OTHER
        finally:
            pair.close()
    assert pair.scheduling == "normal"


def test_a_stalled_bridge_is_measured_and_named() -> None:
    """The bridge stopped for 0.15 s (SIGSTOP, as a machine that does not schedule it): its probe
    reports the stall when it is closed, and the run's reason would name it; a line that never
    stalled past the timeout names nothing."""
    pair = PtyPair.open()
    try:
        with serial.Serial(pair.a, 115200, timeout=1) as sim, serial.Serial(pair.b, 115200, timeout=1) as ctl:
            ctl.write(b"before")
            assert _read(sim, 6) == b"before"
            os.kill(pair.proc.pid, signal.SIGSTOP)
            try:
                time.sleep(0.15)  # the stall injected, not a wait for anything
            finally:
                os.kill(pair.proc.pid, signal.SIGCONT)
            for word in (b"after", b"again"):  # two round trips: the bridge has looped since
                ctl.write(word)
                assert _read(sim, len(word)) == word
                sim.write(word)
                assert _read(ctl, len(word)) == word
    finally:
        pair.close()
    st = pair.stalls
    assert st["probes"] >= 1 and st["delivery_max_ms"] >= 100.0 and st["delivery_over_100ms"] >= 1, st
    note = stalled({"rtu": st}, 0.03)
    assert "this machine held its bytes up to" in note and "the devices' timeout is 30 ms" in note
    assert stalled({"rtu": {**st, "delivery_max_ms": 7.0}}, 0.03) == ""
