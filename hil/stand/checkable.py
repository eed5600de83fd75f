"""What a stand offers a checkout: the channels a zero measures and the valves a timing
checkout strokes. Facts of the stand file alone, so the console's meta schema
(hil/service/meta.py) and the checkout procedures (hil/checkout/jobs.py) read them from one place.
"""

from __future__ import annotations

from hil.stand.kinds import Feeds
from hil.stand.model import Actuator, Channel, StandConfig


def zeroable(stand: StandConfig) -> list[tuple[int, Channel]]:
    """The channels a zero measures (those that declare a ``zero_limit``), with their index."""
    return [(i, c) for i, c in enumerate(stand.channels) if c.zero_limit > 0]


def timed_valves(stand: StandConfig) -> list[Actuator]:
    """The valves a timing checkout strokes: every valve with position feedback except the
    isolation valves, which stay closed so that nothing flows."""
    return [a for a in stand.actuators if a.feedback and a.feeds != Feeds.ISOLATION and a.kind in ("valve", "proportional")]
