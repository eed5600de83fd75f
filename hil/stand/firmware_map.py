"""The fixed system registers of hil-stand firmware (protocol ``hil-stand-1``).

Stand firmware that speaks this protocol (the bundled simulator, or real firmware written to
it) exposes its watchdog, latch and command acknowledgement at these addresses; channels and
actuators from the stand config start above them. A plain DAQ (a LabJack, an analog-input
module) has no firmware protocol and the stand config leaves ``[firmware]`` out.
"""

from __future__ import annotations

from enum import IntEnum

PROTOCOL = "hil-stand-1"
FIRMWARE_VERSION = 0x0100

# Input registers (function code 4)
IR_STATE = 0
IR_STATUS = 1
IR_TRIPS = 2
IR_HEARTBEAT_ECHO = 3
IR_ACK_SEQ = 4
IR_ACK_RESULT = 5
IR_SCAN_COUNT = 6  # u32, high word first
IR_TIME_MS = 8  # u32, high word first
IR_VERSION = 10
IR_TRIP_TIME_MS = 11  # u32: firmware clock when SAFED latched
IR_HEARTBEAT_TIME_MS = 13  # u32: firmware clock when the heartbeat last changed
IR_OUTPUT_TIME_MS = 15  # u16: firmware clock (ms, modulo 65536) when a command register last changed
IR_SYSTEM_COUNT = 16  # channels must start at or above this

# Holding registers (function codes 3, 6, 16)
HR_HEARTBEAT = 0
HR_COMMAND = 1
HR_COMMAND_SEQ = 2
HR_SYSTEM_COUNT = 4  # actuators must start at or above this


class FwState(IntEnum):
    """What the firmware is doing with the outputs."""

    NORMAL = 1  # outputs follow the holding registers
    SAFED = 2  # latched: outputs follow the safing sequence until a reset


class Status(IntEnum):
    """Bits of IR_STATUS."""

    WATCHDOG_ENGAGED = 1 << 0
    HEARTBEAT_SEEN = 1 << 1
    SAFING_ACTIVE = 1 << 2
    PURGE_BY_FIRMWARE = 1 << 3


class Trip(IntEnum):
    """Bits of IR_TRIPS: why the firmware latched SAFED (cleared by a reset)."""

    WATCHDOG = 1 << 0
    OVERPRESSURE = 1 << 1
    COMMANDED = 1 << 2
    HARD_START_LEVEL = 1 << 3  # the hard-start trip: Pc above its level in a start transient
    HARD_START_RATE = 1 << 4  # ... or rising faster than its rate


TRIP_TEXT = {
    Trip.WATCHDOG: "no new heartbeat within the watchdog time",
    Trip.OVERPRESSURE: "chamber pressure above the overpressure limit",
    Trip.COMMANDED: "commanded safe",
    Trip.HARD_START_LEVEL: "hard start: chamber pressure above the firmware's hard_start_above in a start transient; "
                           "every propellant valve and the igniter shut at that scan",
    Trip.HARD_START_RATE: "hard start: chamber pressure rising faster than the firmware's hard_start_rate in a start "
                          "transient; every propellant valve and the igniter shut at that scan",
}


class Command(IntEnum):
    """Values for HR_COMMAND; executed when HR_COMMAND_SEQ changes."""

    NONE = 0
    RESET = 1
    SAFE = 2


class AckResult(IntEnum):
    """Values of IR_ACK_RESULT for the command whose sequence number is in IR_ACK_SEQ."""

    OK = 0
    UNKNOWN_COMMAND = 1
    REFUSED_OUTPUTS_NOT_SAFE = 2
