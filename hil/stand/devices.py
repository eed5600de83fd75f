"""The devices a stand is made of: each Modbus unit the controller talks to, how it is reached,
how often it is read, what losing it means, and how it is kept from safing itself (its
watchdog). Also the wire-time arithmetic a shared serial line is planned with.

A real stand is rarely one Modbus server: a fast DAQ on TCP, a valve PLC with coils and its own
watchdog block, slow modules sharing an RS-485 line. Each is a :class:`Device`; channels and
actuators name theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hil.stand.kinds import LinkKind


@dataclass(frozen=True)
class TransportConfig:
    """How the controller reaches the stand."""

    kind: LinkKind
    host: str = "127.0.0.1"
    port: int = 5020
    device: str = ""
    baud: int = 115200
    parity: str = "N"
    stopbits: int = 1
    unit: int = 1
    timeout_s: float = 0.05
    retries: int = 1


class DeviceProtocol(StrEnum):
    """What the controller knows of a device beyond plain Modbus."""

    PLAIN = "plain"  # registers only (a LabJack, an analog-input module, a PLC)
    HIL_STAND_1 = "hil-stand-1"  # the firmware protocol: system block, watchdog, latch, ack


@dataclass(frozen=True)
class Heartbeat:
    """A counter written to ``register`` at ``hz``: what a PLC watchdog block watches. ``echo``
    (optional) is a register the device copies the counter into; the controller checks that it
    follows. ``watchdog_s`` is what the device's watchdog is set to: the loader checks that one
    lost answer cannot trip it, and the simulator enforces it."""

    register: int
    hz: float = 20.0
    echo: int | None = None
    echo_table: str = "input"
    watchdog_s: float = 0.5


@dataclass(frozen=True)
class Device:
    """One Modbus unit: its link (TCP host/port, or a unit on a serial line), its pace and
    what losing it means."""

    name: str
    link: TransportConfig
    rate_hz: float | None = None  # None: read every cycle (or, on a serial line, at the loop rate)
    critical: bool = True  # lost → FAULT for the stand; else only its channels are disqualified
    stale_s: float | None = None  # a held value older than this is not trusted (None: derived)
    lost_after: int | None = None  # consecutive failed polls that make the device lost (None: derived)
    protocol: DeviceProtocol = DeviceProtocol.PLAIN
    heartbeat: Heartbeat | None = None
    line: int | None = None  # source line of the [[devices]] entry

    @property
    def serial(self) -> str:
        """The serial line this device shares ('' for TCP devices)."""
        return self.link.device if self.link.kind == LinkKind.RTU else ""

    def period(self, loop_hz: float) -> float:
        """Seconds between reads of this device."""
        return 1.0 / min(self.rate_hz or loop_hz, loop_hz)

    def every_cycle(self, loop_hz: float) -> bool:
        """Read in every loop cycle (TCP at the loop rate): a failed read invalidates its
        channels at once; otherwise values are held between reads and age."""
        return self.link.kind == LinkKind.TCP and (self.rate_hz is None or self.rate_hz >= loop_hz)

    def stale_after(self, loop_hz: float) -> float:
        """Age beyond which a held value is stale: a missed poll and its retries are tolerated."""
        if self.stale_s is not None:
            return self.stale_s
        return 2 * self.period(loop_hz) + self.link.timeout_s * (1 + self.link.retries)

    def lost_polls(self, comm_loss_cycles: int, loop_hz: float) -> int:
        """Consecutive failed polls after which the device counts as lost."""
        if self.lost_after is not None:
            return self.lost_after
        return comm_loss_cycles if self.every_cycle(loop_hz) else 3


# --------------------------------------------------------------------------- serial wire time


def char_time(baud: int, bits_per_char: int = 11) -> float:
    """Seconds one character occupies on the wire (start + 8 data + parity/stop = 11 bits)."""
    return bits_per_char / baud


def frame_gap(baud: int) -> float:
    """The silence that separates RTU frames: 3.5 characters, fixed at 1.75 ms above 19200 baud."""
    return 0.00175 if baud > 19200 else 3.5 * char_time(baud)


def wire_time(baud: int, request_bytes: int, response_bytes: int, parity: str = "N", stopbits: int = 1) -> float:
    """Physical time of one RTU transaction: both frames plus the gap after each."""
    bits = 1 + 8 + (0 if parity == "N" else 1) + stopbits
    return (request_bytes + response_bytes) * char_time(baud, bits) + 2 * frame_gap(baud)


def serial_char_time(baud: int, parity: str = "N", stopbits: float = 1) -> float:
    """Seconds one character occupies the line for the quiet rule: 11 bits (start, 8 data, parity
    or a second stop bit, stop) with parity or 2 stop bits, else 10 (8N1)."""
    return (11 if parity.upper() != "N" or stopbits == 2 else 10) / baud


def quiet_after_timeout(timeout_s: float, answer_bytes: int, baud: int, parity: str = "N",
                        stopbits: float = 1) -> float:
    """How long a serial line stays held after a request timed out (docs/stand-config.md, serial
    lines): the device's timeout again (its answer may be that late), the longest frame it would
    send, and the 3.5-character gap that ends a frame (fixed at 1.75 ms above 19200 baud)."""
    return timeout_s + answer_bytes * serial_char_time(baud, parity, stopbits) + frame_gap(baud)


def read_bytes(table: str, count: int) -> tuple[int, int]:
    """Request and response sizes of an RTU read (address, function, ..., CRC)."""
    data = (count + 7) // 8 if table in ("coil", "discrete") else 2 * count
    return 8, 5 + data


def write_bytes(table: str, count: int) -> tuple[int, int]:
    """Request and response sizes of an RTU multiple write (FC 15/16)."""
    data = (count + 7) // 8 if table == "coil" else 2 * count
    return 9 + data, 8
