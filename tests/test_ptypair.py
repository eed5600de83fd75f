"""The pty pair made in Python (hil/ptypair.py) behaves as a serial line between two programs,
with no socat anywhere: bytes cross both ways through pyserial on both ends, an end can be closed
and reopened (a controller reconnecting), and closing the pair stops its bridge process and
removes its paths."""

from __future__ import annotations

import os
import shutil
import time

import serial

from hil.ptypair import PtyPair


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
