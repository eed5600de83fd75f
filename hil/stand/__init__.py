"""The stand: its model (what a stand file says), the loader that validates it with located
errors, register types and block coalescing, calibrations, and the decode/command maps the
control loop uses."""

from hil.stand.kinds import ChannelRole, Plot
from hil.stand.loader import load_stand, parse_stand
from hil.stand.model import (
    Actuator,
    Channel,
    FirmwareConfig,
    IgnitionConfig,
    Limits,
    LoopConfig,
    Redline,
    SafingStep,
    SimConfig,
    StandConfig,
    ThrottleConfig,
    TransportConfig,
)

__all__ = [
    "Actuator", "Channel", "ChannelRole", "FirmwareConfig", "IgnitionConfig", "Limits", "LoopConfig", "Plot", "Redline",
    "SafingStep",
    "SimConfig", "StandConfig", "ThrottleConfig", "TransportConfig", "load_stand", "parse_stand",
]
