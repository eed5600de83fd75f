"""The vocabulary of a stand file: the kinds a key may name (links, register tables, actuator
kinds, propellants, redline phases, channel roles, plots ...). Kept apart from the dataclasses of
hil/stand/model.py because the transports, the simulator and the report need the words without
the model."""

from __future__ import annotations

from enum import StrEnum


class LinkKind(StrEnum):
    """How a stand (or one of its devices) is reached."""

    TCP = "tcp"
    RTU = "rtu"


class RegisterTable(StrEnum):
    """A Modbus data table: input registers (read with function code 4), holding registers
    (3; written with 16), discrete inputs (2) and coils (1; written with 15)."""

    INPUT = "input"
    HOLDING = "holding"
    DISCRETE = "discrete"
    COIL = "coil"

    @property
    def bits(self) -> bool:
        """One bit per address rather than a 16-bit register."""
        return self in (RegisterTable.DISCRETE, RegisterTable.COIL)


class RegisterType(StrEnum):
    """How a value sits in its registers (hil/stand/registers.py defines each: width, decode,
    encode, struct code, documentation)."""

    U16 = "u16"
    I16 = "i16"
    U32 = "u32"
    I32 = "i32"
    F32 = "f32"
    BIT = "bit"  # the type of coils and discrete inputs: one address holds 0 or 1


class WordOrder(StrEnum):
    """Word and byte order of a multi-register value: "big" = high word first (ABCD), "little" =
    low word first (CDAB); the "_byteswap" variants also swap the two bytes of every word (BADC,
    DCBA), as some vendors do. For 16-bit types only the byte swap matters."""

    BIG = "big"
    LITTLE = "little"
    BIG_BYTESWAP = "big_byteswap"
    LITTLE_BYTESWAP = "little_byteswap"

    @property
    def high_first(self) -> bool:
        """The most significant word comes first."""
        return self in (WordOrder.BIG, WordOrder.BIG_BYTESWAP)

    @property
    def byteswap(self) -> bool:
        """The two bytes of every word are exchanged."""
        return self in (WordOrder.BIG_BYTESWAP, WordOrder.LITTLE_BYTESWAP)


class ActuatorKind(StrEnum):
    VALVE = "valve"
    PROPORTIONAL = "proportional"
    IGNITER = "igniter"
    PURGE = "purge"


class Propellant(StrEnum):
    OX = "ox"
    FUEL = "fuel"
    NONE = "none"


class Feeds(StrEnum):
    """What a propellant valve feeds: opening one ox and one fuel valve of the chamber starts a burn."""

    CHAMBER = "chamber"
    GG = "gg"
    ISOLATION = "isolation"


class RedlineWhen(StrEnum):
    ALWAYS = "always"
    RUNNING = "running"  # the stand is RUNNING
    BURNING = "burning"  # ignition is confirmed


class WatchdogEngage(StrEnum):
    FIRST_HEARTBEAT = "first-heartbeat"
    ALWAYS = "always"
    NEVER = "never"


class EnginePreset(StrEnum):
    TQ12 = "tq12"
    LAB = "lab"


class ChannelRole(StrEnum):
    """What a channel measures, for the metrics, the report and the console (chamber pressure is
    ``[limits] pc_channel(s)``, a valve's position is its actuator's ``feedback``)."""

    THRUST = "thrust"
    OX_FLOW = "ox_flow"
    FUEL_FLOW = "fuel_flow"
    WALL_TEMP = "wall_temp"


class Plot(StrEnum):
    """Which of the console's plots a channel is drawn in."""

    PC = "pc"
    THRUST = "thrust"
    PRESSURES = "pressures"
    VALVES = "valves"
    NONE = "none"


PLANT_INPUTS = ("ox_valve", "fuel_valve", "gg_valve", "ox_iso", "fuel_iso", "igniter", "purge")
