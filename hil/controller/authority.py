"""Command authority: several consoles may watch a stand, one crew member commands it.

The holder is a client (its id, shown by its name: the CURVE key name where keys are in use).
Everyone sees everything; only the holder may load, arm, start, answer prompts, hold the count,
reset or move outputs. ABORT is accepted from every client that can reach the controller,
always. The first client to command a stand nobody holds gets the authority (a single console
works as it always did); after that it changes hands only explicitly — the holder hands it
over or releases it — or, when the holder has gone silent, by a take-over that is logged as
such. Every change is an event of the session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hil.errors import Refused

NEEDS_AUTHORITY = frozenset({"load", "arm", "start", "reset", "set", "answer", "hold", "resume", "stop", "checkout",
                             "cancel_checkout"})
SILENT_S = 10.0  # a holder not heard from for this long may be taken over from


class Authority:
    """Who may command the stand."""

    def __init__(self, events: Callable[..., None]) -> None:
        self.events = events
        self.holder: str | None = None  # client id
        self.holder_name = ""
        self.requested_by: tuple[str, str] | None = None  # (client id, name)
        self.heard: dict[str, float] = {}

    def status(self) -> dict[str, Any]:
        return {"holder": self.holder_name or None, "holder_id": self.holder,
                "requested_by": self.requested_by[1] if self.requested_by else None}

    def check(self, t: float, client: str, name: str, cmd: str) -> None:
        """Refuse ``cmd`` unless ``client`` holds the authority (granted if nobody does)."""
        self.heard[client] = t
        if cmd not in NEEDS_AUTHORITY:
            return
        if self.holder is None:
            self._grant(t, client, name, how="first to command")
            return
        if self.holder != client:
            raise Refused(f"command authority is held by {self.holder_name}; request it "
                          f"(request_authority) and have it handed over")

    def handle(self, t: float, client: str, name: str, cmd: str, request: dict[str, Any]) -> dict[str, Any]:
        """The authority commands: take, request, hand over, release."""
        if cmd == "take_authority":
            if self.holder is None or self.holder == client:
                self._grant(t, client, name, how="taken")
            elif t - self.heard.get(self.holder, -1e9) >= SILENT_S:
                self._grant(t, client, name, how=f"taken over from {self.holder_name}, silent for "
                                                 f"{t - self.heard.get(self.holder, t):.0f} s")
            else:
                raise Refused(f"command authority is held by {self.holder_name} (heard from "
                              f"{t - self.heard[self.holder]:.1f} s ago); request it instead")
        elif cmd == "request_authority":
            if self.holder in (None, client):
                return self.handle(t, client, name, "take_authority", request)
            self.requested_by = (client, name)
            self.events(t, "authority_requested", by=name, holder=self.holder_name)
        elif cmd == "hand_over":
            self._must_hold(client)
            if self.requested_by is None:
                raise Refused("nobody has requested command authority")
            to_id, to_name = self.requested_by
            self._grant(t, to_id, to_name, how=f"handed over by {name}")
        elif cmd == "release_authority":
            self._must_hold(client)
            self.events(t, "authority_released", by=name)
            self.holder, self.holder_name, self.requested_by = None, "", None
        return {"ok": True, "authority": self.status()}

    def _must_hold(self, client: str) -> None:
        if self.holder != client:
            raise Refused("only the holder of command authority can hand it over or release it"
                          + (f" (held by {self.holder_name})" if self.holder else " (nobody holds it)"))

    def _grant(self, t: float, client: str, name: str, how: str) -> None:
        before = self.holder_name or None
        self.holder, self.holder_name = client, name
        if self.requested_by and self.requested_by[0] == client:
            self.requested_by = None
        self.events(t, "authority", holder=name, previous=before, how=how)
