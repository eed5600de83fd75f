"""Lost client during a burn.

A client that starts a run with ``watchdog_s`` promises to be heard from (any request, e.g.
``ping``) at least that often while the stand is ARMED or RUNNING; silence longer than that
aborts the run. The console does this, a script may: an operator whose console died can no
longer press ABORT, so the controller must not carry on as if someone were watching.
"""

from __future__ import annotations

from hil.cycle import CycleState
from hil.safety.supervisor import State, Supervisor


class ClientWatch:
    """The ``clients`` stage."""

    name = "clients"

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.owner: str | None = None
        self.timeout_s = 0.0
        self.last_heard = 0.0

    def own(self, client: str, timeout_s: float, t: float) -> None:
        """``client`` must be heard from every ``timeout_s`` from ``t`` on, until the run ends."""
        self.owner, self.timeout_s, self.last_heard = client, timeout_s, t

    def heard(self, client: object, t: float) -> None:
        """A request from ``client`` arrived at ``t``."""
        if client is not None and client == self.owner:
            self.last_heard = t

    def on_cycle(self, cs: CycleState) -> None:
        if self.owner is None:
            return
        sup = self.supervisor
        if sup.state not in (State.ARMED, State.RUNNING):
            self.owner = None  # the run is over: nobody has to keep talking
            return
        if cs.t - self.last_heard > self.timeout_s:
            who, self.owner = self.owner, None
            sup.abort(cs.t, f"lost client during a burn: no word from {who} for {self.timeout_s:g} s",
                      source="client-watch")
