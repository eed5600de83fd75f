"""How long a redline may go without a fresh sample before it is blind.

A slow module's lateness is judged by what it feeds. A thermocouple module read at 20 Hz whose
answer comes 10 ms late (a busy machine, a retry on the line) leaves its values unknown for a
moment (NaN, with their age shown to the operator), and that is no reason to end a burn; a
redline that has seen nothing for longer than it can afford is. The tolerance is

    blind_after = persistence × device period + the device's stale time

for a redline whose channels are on held (slower than the loop, or serial) devices: the redline
already accepts ``persistence`` samples of detection latency, and its device is allowed its stale
time (two periods plus a poll's timeouts and retries) before a held value counts as unknown.
TQ-12's ``wall_temp`` (persistence 3, tc at 20 Hz, 30 ms timeout, 1 retry): 3 × 50 + (2 × 50 +
2 × 30) = 310 ms. A redline can state its own: ``blind_after_s`` in its ``[[redlines]]`` table.

Channels read every cycle (the fast DAQ) are not judged here: a missed answer makes them unknown
for that cycle and the device's ``lost_after`` polls decide (a critical device's loss is a
FAULT). With several channels the redline is blind when none of them has a fresh sample within
the largest tolerance of their devices. A blind redline during a burn latches FAULT; outside a
burn it is reported, and ARM is refused until every device has delivered a fresh reading.
"""

from __future__ import annotations

import math

from hil.stand import Redline, StandConfig


def blind_after(rl: Redline, stand: StandConfig, loop_hz: float) -> float:
    """Seconds a redline may go without a fresh sample (inf: its channels are read every cycle)."""
    if rl.blind_after_s is not None:
        return rl.blind_after_s
    worst = -math.inf
    for name in rl.channels:
        dev = stand.device(stand.channel(name).device)
        if dev.every_cycle(loop_hz):
            continue
        worst = max(worst, rl.persistence * dev.period(loop_hz) + dev.stale_after(loop_hz))
    return worst if worst > 0 else math.inf
