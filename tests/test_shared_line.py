"""A controller on a shared RS-485 line whose thermocouple module sometimes answers after the
master's timeout (issue 23). The line is a responder of our own (tests/rs485.py), not the bundled
simulator: two units on one line; the thermocouple module holds two read blocks of the same size
(input registers 0-1 and 200-201) with a distinct constant float in each. A real stand file names
the two modules; the controller's loop polls them over the real RTU transport in its line thread
and records. Property (hypothesis over the lateness timings): every recorded value of a channel
is its own block's value, or unknown (NaN, or the value a never-read channel records on a branch
where the value side's NaN has not landed yet: it is computed from a fresh decoder, not assumed)
— never the other block's value, which is what the transport recorded before the quiet rule.
The rule's promise covers answers up to twice the timeout plus the frame after their request
(docs/stand-config.md); an example where the machine stalled the responder beyond that is
discarded (hypothesis ``assume``), not passed.
"""

from __future__ import annotations

import math
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rs485 import Req, Rs485Line, Unit

from hil.controller import Controller
from hil.cycle.clock import MonotonicClock
from hil.ptypair import PtyPair
from hil.record.recorder import new_recorder, read_run
from hil.stand import load_stand
from hil.stand.devices import quiet_after_timeout
from hil.stand.iomap import Decoder
from hil.transport import open_transports

pytestmark = pytest.mark.timeout(300)

TIMEOUT = 0.06  # margin for a loaded machine: an answer later than 2 x this is beyond the quiet rule
# the quiet rule's promise: an answer up to this long after its request is dropped (the tc answer is 9 bytes)
BOUND_S = TIMEOUT + quiet_after_timeout(TIMEOUT, 9, 115200)
PTY_ALLOWANCE_S = 0.01  # the pty bridge's delivery of the request and of the answer, not measured
VALUES = {"t_a": 301.7, "t_b": 90.2, "q": 12.5}  # one constant per block
STAND = """
[stand]
name = "shared-line"
description = "a thermocouple module (two same-size blocks) and a flowmeter on one RS-485 line"

[[devices]]
name = "tc"
link = "rtu"
serial = "{serial}"
baud = 115200
unit = 3
timeout_s = {timeout}
retries = 1
rate_hz = 20
critical = false

[[devices]]
name = "flow"
link = "rtu"
serial = "{serial}"
baud = 115200
unit = 4
timeout_s = {timeout}
retries = 1
rate_hz = 50
critical = false

[loop]
rate_hz = 200

[[channels]]
name = "t_a"
device = "tc"
register = 0
type = "f32"
units = "K"
valid = [0, 2000]

[[channels]]
name = "t_b"
device = "tc"
register = 200
type = "f32"
units = "K"
valid = [0, 2000]

[[channels]]
name = "q"
device = "flow"
register = 0
type = "f32"
units = "kg/s"
valid = [0, 100]

[[actuators]]
name = "purge"
kind = "purge"
device = "flow"
table = "holding"
register = 10

[safing]
steps = [{{ at = 0.0, set = {{ purge = 0 }} }}]
"""


def _f32(value: float) -> tuple[int, int]:
    """A float as two registers, high word first (the stand file's default word order)."""
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return hi, lo


def _inputs(start: int, value: float) -> dict[int, int]:
    hi, lo = _f32(value)
    return {start: hi, start + 1: lo}


def run_shared_line(tmp_path: Path, *, seed: int, late_share: float, on_time_s: float, late_s: float,
                    seconds: float) -> dict[str, object]:
    """Run the controller for ``seconds`` against the line; the recorded columns and counters."""
    rng = random.Random(seed)

    def tc_delay(req: Req) -> float:
        if rng.random() < late_share:
            return TIMEOUT + rng.uniform(0.001, late_s)  # after the master's timeout
        return rng.uniform(0.0, on_time_s)

    tc = Unit(3, inputs=_inputs(0, VALUES["t_a"]) | _inputs(200, VALUES["t_b"]), delay=tc_delay,
              late_after=TIMEOUT)
    flow = Unit(4, inputs=_inputs(0, VALUES["q"]), delay=lambda req: rng.uniform(0.0, 0.002))
    pair = PtyPair.open()
    line = Rs485Line(pair.a, [tc, flow])
    try:
        path = tmp_path / f"stand-{seed}.toml"
        path.write_text(STAND.format(serial=pair.b, timeout=TIMEOUT))
        stand = load_stand(path)
        placeholder = Decoder(stand).eng()  # what a never-read channel records on this branch
        rec = new_recorder(tmp_path / f"run-{seed}", stand)
        transports = open_transports(stand)
        ctl = Controller(stand, transports, MonotonicClock(), recorder=rec)
        loop = ctl.loop
        loop.start()
        try:
            while loop.t < seconds:
                loop.step()
        finally:
            loop.shutdown("test over")
            rec.close()
        table = read_run(tmp_path / f"run-{seed}").table
        names = [c.name for c in stand.channels]
        return {"columns": {n: np.asarray(table.column(n).to_numpy(zero_copy_only=False), dtype=np.float64)
                            for n in VALUES},
                "placeholder": {n: float(placeholder[names.index(n)]) for n in VALUES},
                "stats": {n: t.stats for n, t in transports.items()}, "late": tc.late, "tc_requests": tc.requests,
                "slowest_answer_s": max(line.answer_delays, default=0.0)}
    finally:
        line.close()
        pair.close()


def _check(result: dict[str, object]) -> None:
    # A responder the machine stalled beyond the rule's bound (250 ms was seen beside CPU hogs) is
    # beyond what any RTU master can tell apart: that example tests nothing, it is not a pass.
    assume(float(result["slowest_answer_s"]) < BOUND_S - PTY_ALLOWANCE_S)  # type: ignore[arg-type]
    cols: dict[str, np.ndarray] = result["columns"]  # type: ignore[assignment]
    placeholder: dict[str, float] = result["placeholder"]  # type: ignore[assignment]
    for name, col in cols.items():
        own = float(np.float32(VALUES[name]))
        unknown = np.isnan(col) | (col == placeholder[name]) if not math.isnan(placeholder[name]) else np.isnan(col)
        wrong = ~(unknown | (col == own))
        assert not wrong.any(), (f"{name} recorded {sorted(set(col[wrong].tolist()))[:5]} "
                                 f"({int(wrong.sum())} rows), its block only ever held {own}; "
                                 f"slowest answer {result['slowest_answer_s'] * 1e3:.1f} ms; {result['stats']}")
        assert (col == own).any(), f"{name} was never read at all"
        # the placeholder is "not read yet": once the channel was read it never comes back
        first = int(np.argmax(col == own))
        assert not (col[first:] == placeholder[name]).any() or math.isnan(placeholder[name])


timings = dict(seed=st.integers(0, 2**31), late_share=st.sampled_from([0.2, 0.35, 0.5]),
               on_time_s=st.floats(0.0, 0.6 * TIMEOUT), late_s=st.floats(0.002, 0.3 * TIMEOUT))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(**timings)
def test_late_answers_on_a_shared_line_never_land_in_another_blocks_channel(tmp_path, seed: int, late_share: float,
                                                                             on_time_s: float, late_s: float) -> None:
    result = run_shared_line(tmp_path, seed=seed, late_share=late_share, on_time_s=on_time_s, late_s=late_s,
                             seconds=1.5)
    _check(result)
    stats = result["stats"]
    assert result["late"] > 0 and stats["tc"].timeouts > 0  # type: ignore[index]
    assert stats["tc"].late_answers > 0  # type: ignore[index]  # and the line threw them away


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(**timings)
def test_late_answers_on_a_shared_line_many_timings(tmp_path, seed: int, late_share: float, on_time_s: float,
                                                     late_s: float) -> None:
    _check(run_shared_line(tmp_path, seed=seed, late_share=late_share, on_time_s=on_time_s, late_s=late_s,
                           seconds=3.0))
