"""One way to reach a stand: :func:`open_link` for ``hil run``, ``hil serve``, the console and the
tests — the stand's own transport, or the simulated stand in lockstep, over TCP or over RTU.

Why one function: ``run`` and ``serve`` each had their own copy and they drifted (serve's RTU path
dropped the baud rate and the timeout floor a pty needs).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from hil.children import Child, start_sim
from hil.clock import Clock, MonotonicClock, VirtualClock
from hil.stand import StandConfig, TransportConfig
from hil.stand.model import LinkKind
from hil.transport import open_transport
from hil.transport.base import Transport

if TYPE_CHECKING:
    from firmware_sim.faults import Fault
    from firmware_sim.firmware import Firmware

SIM_RTU_BAUD = 115200
SIM_RTU_MIN_TIMEOUT_S = 0.03  # a pty through socat answers a request in 0.3-3 ms, with tails


class SimMode(StrEnum):
    """How a simulated stand is reached (``--sim``)."""

    LOCKSTEP = "lockstep"
    TCP = "tcp"
    RTU = "rtu"


@dataclass
class Link:
    """A transport and the clock that goes with it, plus what was started to provide them."""

    transport: Transport
    clock: Clock
    child: Child | None = None  # a simulator process (tcp, rtu)
    firmware: Firmware | None = None  # the simulated firmware itself (lockstep)

    def close(self) -> str:
        """Stop what was started; returns the simulator's last words."""
        return self.child.stop() if self.child is not None else ""


def open_link(stand: StandConfig, stand_path: str, sim: SimMode | str | None, *, seed: int | None = None,
              faults: tuple[Fault, ...] = (), rt_priority: int | None = None) -> Link:
    """The stand's own transport (``sim`` None), or the simulated stand: in this process on its
    virtual clock (lockstep), or as a child process over loopback TCP or a pty pair (RTU)."""
    if sim is None:
        return Link(open_transport(stand), MonotonicClock())
    mode = SimMode(sim)
    if mode == SimMode.LOCKSTEP:
        from firmware_sim.faults import WIRE_FAULTS
        from firmware_sim.firmware import Firmware
        from hil.transport.lockstep import LockstepRtuTransport, LockstepTransport

        firmware = Firmware(stand, seed=seed, faults=list(faults))
        transport: Transport
        if any(f.name in WIRE_FAULTS for f in faults):  # line faults need a line: model the RTU bytes
            from firmware_sim.server import RtuLine

            t = stand.transport
            transport = LockstepRtuTransport(RtuLine(firmware, t.unit), t.unit, t.timeout_s, t.retries)
        else:
            transport = LockstepTransport(firmware)
        return Link(transport, VirtualClock(firmware), firmware=firmware)
    child = start_sim(stand_path, mode.value, seed=seed, faults=tuple(f.spec() for f in faults),
                      rt_priority=rt_priority, baud=SIM_RTU_BAUD)
    try:
        return Link(open_transport(stand, sim_transport(stand.transport, child)), MonotonicClock(), child=child)
    except Exception:
        child.stop()
        raise


def sim_transport(cfg: TransportConfig, child: Child) -> TransportConfig:
    """The stand's transport settings pointed at a simulator child."""
    if child.pty is None:
        return dataclasses.replace(cfg, kind=LinkKind.TCP, host="127.0.0.1", port=child.port)
    return dataclasses.replace(cfg, kind=LinkKind.RTU, device=child.pty.b, baud=SIM_RTU_BAUD, parity="N",
                               timeout_s=max(cfg.timeout_s, SIM_RTU_MIN_TIMEOUT_S))
