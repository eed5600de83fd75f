"""The hardware ABORT: a mushroom button wired to a discrete input (``[abort_switch]`` in the
stand file, docs/safety.md).

When the input reads its ``active`` level the controller aborts exactly as the console's ABORT
does — never refused; from ARMED or RUNNING the run is aborted and safed, in SAFE the safing
sequence is re-asserted — logged with ``source="hardware abort switch"`` and the input named.
It acts on the press (the edge): a button held down aborts once, not every cycle, but ARM is
refused while it is held. An input that cannot be read (NaN, stale) changes nothing: the
device's own loss is a fault of its own (hil/io).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hil.cycle import CycleState
from hil.safety.supervisor import EventSink
from hil.stand import StandConfig

SOURCE = "hardware abort switch"


class AbortSwitchWatch:
    """The ``abort_switch`` stage: first after the supervisor, so nothing later in the cycle
    (the sequence, the throttle) commands anything on the cycle the button is seen."""

    name = "abort_switch"

    def __init__(self, stand: StandConfig, abort: Callable[[str, str], None], events: EventSink) -> None:
        sw = stand.abort_switch
        assert sw is not None
        ch = stand.channel(sw.channel)
        self.abort, self.events = abort, events
        self.channel, self.active = ch.name, sw.active
        self.index = [c.name for c in stand.channels].index(ch.name)
        self.where = f"{ch.name}: {ch.device or stand.devices[0].name} discrete input {ch.register}"
        self.pressed = False

    def on_cycle(self, cs: CycleState) -> None:
        v = cs.values[self.index]
        if not cs.valid[self.index] or not np.isfinite(v):
            return  # unknown: neither pressed nor released
        pressed = int(round(float(v))) == self.active
        if pressed and not self.pressed:
            self.pressed = True
            self.abort(f"hardware abort switch pressed ({self.where})", SOURCE)
        elif self.pressed and not pressed:
            self.pressed = False
            self.events(cs.t, "abort_switch_released", channel=self.channel)

    def arm_checks(self) -> list[str]:
        """ARM is refused while the button is held down."""
        return [f"the hardware abort switch is pressed ({self.where}): release it first"] if self.pressed else []
