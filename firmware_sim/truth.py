"""What the simulated stand really is, as it reports it about itself: the plant truth a lockstep
run's summary carries (``summary.json``'s ``firmware``), which tests check "safe" on without
trusting the controller's own view.

The engine gives its part (:meth:`firmware_sim.engine.Engine.truth`); the firmware adds its
latch and trips (:func:`plant_truth`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class EngineTruth:
    """The plant's physical state: ignitions, pressures, valve positions and flows."""

    ignitions: int
    peak_pc_mpa: float
    burning: bool
    pos_ox: float
    pos_fuel: float
    pos_gg: float
    pos_ox_iso: float
    pos_fuel_iso: float
    pc_mpa: float
    mdot_ox: float
    mdot_fuel: float

    @property
    def valves_closed(self) -> bool:
        """No propellant path open: each main valve, or the isolation valve upstream of it, shut."""
        return (self.pos_ox == 0 or self.pos_ox_iso == 0) and (self.pos_fuel == 0 or self.pos_fuel_iso == 0)


@dataclass(frozen=True, slots=True)
class PlantTruth:
    """The simulated stand as it ended: the engine's truth and the firmware's latch."""

    engine: EngineTruth
    state: int  # the firmware's state (hil/stand/firmware_map.py FwState)
    trips: int  # the firmware's trip bits
    hard_start_trip: dict[str, Any]  # what the hard-wired hard-start trip saw over the run (firmware_sim/trip.py)

    def as_summary(self) -> dict[str, Any]:
        """summary.json's ``firmware`` block (keys as recorded since the first lockstep runs)."""
        e = self.engine
        return {"ignitions": e.ignitions, "peak_pc_mpa": e.peak_pc_mpa, "state": self.state, "trips": self.trips,
                "burning": e.burning, "pos_ox": e.pos_ox, "pos_fuel": e.pos_fuel, "pos_gg": e.pos_gg,
                "pos_ox_iso": e.pos_ox_iso, "pos_fuel_iso": e.pos_fuel_iso, "pc_mpa": e.pc_mpa,
                "mdot_ox": e.mdot_ox, "mdot_fuel": e.mdot_fuel, "valves_closed": e.valves_closed,
                "hard_start_trip": self.hard_start_trip}


class _Engine(Protocol):
    def truth(self) -> EngineTruth: ...


class _HardStartTrip(Protocol):
    def report(self) -> dict[str, Any]: ...


class SimulatedStand(Protocol):
    """The simulated firmware (firmware_sim/firmware.py), as far as its truth goes."""

    @property
    def engine(self) -> _Engine: ...

    @property
    def state(self) -> int: ...

    @property
    def trips(self) -> int: ...

    @property
    def hard_start(self) -> _HardStartTrip: ...

    def advance(self, seconds: float) -> None: ...


def plant_truth(firmware: SimulatedStand, settle_s: float = 0.5) -> PlantTruth:
    """Let the last commands and any firmware safing take effect for ``settle_s`` (virtual
    time), then say what the stand is."""
    firmware.advance(settle_s)
    return PlantTruth(firmware.engine.truth(), int(firmware.state), firmware.trips, firmware.hard_start.report())
