"""What every console tab is to the window: one interface, so the window wires its tabs from
a list instead of by hand in each place that feeds them (a stand's meta, an event, a frame, a
command's answer, a replay). A new tab implements :class:`ConsolePanel` and joins the list in
gui/main_window.py; nothing else in the window changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class PanelFrame:
    """What a panel is shown at one frame, live or in replay alike.

    ``latest`` is the newest value of every recorded column (NaN where nothing was read);
    ``status`` the controller's status (in replay: rebuilt from the recorded row); ``state``
    what the panels print for the stand's state ("REPLAY" in replay: nothing is commanded)."""

    latest: dict[str, float]
    status: dict[str, Any]
    state: str
    step: int  # index of the running step, -1 before the first
    pc_channel: str
    disqualified: tuple[str, ...]
    replay: bool


@runtime_checkable
class ConsolePanel(Protocol):
    """A console tab. Every method is called for every panel; a panel with nothing to do in
    one of them returns (a no-op is part of the contract, not an omission)."""

    tab_title: str  # the tab's label
    frame_every: int  # shown every this many console ticks (1: each tick; 6: the heavy ones)

    def configure(self, meta: dict[str, Any]) -> None:
        """A stand's client meta (from the controller or a recorded run): what to draw."""

    def forget(self) -> None:
        """Forget what was shown (a replay opens)."""

    def on_event(self, ev: dict[str, Any]) -> None:
        """One controller event, live or recorded, in order."""

    def on_reply(self, cmd: str, reply: dict[str, Any]) -> None:
        """The controller's answer to a command this console sent."""

    def show_frame(self, frame: PanelFrame) -> None:
        """Update from the newest values and status."""
