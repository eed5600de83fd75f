"""The PLC watchdog blocks of a simulated stand of several devices (a plain heartbeat counter per
device, no hil-stand-1 firmware): split from firmware.py, which calls this at every scan."""

from __future__ import annotations

from typing import Protocol

from firmware_sim.faces import Face
from hil.stand import StandConfig
from hil.stand import firmware_map as fw


class Watched(Protocol):
    """What the watchdog blocks use of the firmware (firmware_sim/firmware.py): declared here so
    this module stays below the firmware in the import graph."""

    plain_watchdogs: list[Face]
    state: fw.FwState
    events: list[tuple[float, str]]
    dt: float
    fw_face: Face | None
    stand: StandConfig
    safing_next: int

    def trip(self, why: fw.Trip) -> None: ...

    def commands_safe(self) -> bool: ...

    def unlatch(self, t: float) -> None: ...


def plain_watchdogs(firmware: Watched, t: float, k: int) -> int:
    """A PLC's watchdog block: no new heartbeat within its time → it safes the outputs
    (latched, the stand's safing sequence). On a stand without hil-stand-1 firmware the
    latch clears once heartbeats flow again and no propellant or ignition is commanded,
    as a watchdog block re-enables its outputs."""
    for face in firmware.plain_watchdogs:
        hb = face.heartbeat
        assert hb is not None
        if not face.hb_seen:
            continue
        remaining = face.hb_last_t + hb.watchdog_s - t
        if remaining < 0:
            if firmware.state != fw.FwState.SAFED:
                firmware.events.append((t, f"watchdog of {face.name}"))
                firmware.trip(fw.Trip.WATCHDOG)
        else:
            k = min(k, int(remaining / firmware.dt) + 1)
    if (firmware.state == fw.FwState.SAFED and firmware.fw_face is None and firmware.plain_watchdogs
            and firmware.safing_next >= len(firmware.stand.safing) and firmware.commands_safe()
            and all(f.hb_seen and t - f.hb_last_t < f.heartbeat.watchdog_s  # type: ignore[union-attr]
                    for f in firmware.plain_watchdogs)):
        firmware.unlatch(t)
    return k
