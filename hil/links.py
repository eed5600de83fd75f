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
from hil.cycle.clock import Clock, MonotonicClock, VirtualClock
from hil.errors import ConfigError, ProtocolError
from hil.stand import StandConfig, TransportConfig
from hil.stand.kinds import LinkKind
from hil.transport import open_transports
from hil.transport.base import Transport

if TYPE_CHECKING:
    from firmware_sim.faults import Fault
    from firmware_sim.firmware import Firmware

SIM_RTU_BAUD = 115200
SIM_RTU_MIN_TIMEOUT_S = 0.03  # a pty pair answers a request in 0.3-3 ms, with tails


class SimMode(StrEnum):
    """How a simulated stand is reached (``--sim``)."""

    LOCKSTEP = "lockstep"
    TCP = "tcp"
    RTU = "rtu"


@dataclass
class Link:
    """A transport per device and the clock that goes with them, plus what was started to
    provide them."""

    transports: dict[str, Transport]
    clock: Clock
    child: Child | None = None  # a simulator process (tcp, rtu)
    firmware: Firmware | None = None  # the simulated firmware itself (lockstep)

    @property
    def transport(self) -> Transport:
        """The first device's transport (the only one of a single-device stand)."""
        return next(iter(self.transports.values()))

    def close(self) -> str:
        """Stop what was started; returns the simulator's last words."""
        return self.child.stop() if self.child is not None else ""


def open_link(stand: StandConfig, stand_path: str, sim: SimMode | str | None, *, seed: int | None = None,
              faults: tuple[Fault, ...] = (), rt_priority: int | None = None) -> Link:
    """The stand's own devices (``sim`` None), or the simulated stand: in this process on its
    virtual clock (lockstep), or as a child process over loopback TCP and pty pairs.

    A single-device stand is served the way ``sim`` says (tcp or rtu); a stand of several
    devices is served as its file declares (TCP devices on ephemeral ports, each serial line on
    a pty pair), whichever of the two is given."""
    if sim is None:
        return Link(open_transports(stand), MonotonicClock())
    mode = SimMode(sim)
    if mode == SimMode.LOCKSTEP:
        from firmware_sim.faults import WIRE_FAULTS
        from firmware_sim.firmware import Firmware
        from firmware_sim.server import RtuLine
        from hil.transport.lockstep import LockstepRtuTransport, LockstepTransport

        firmware = Firmware(stand, seed=seed, faults=list(faults))
        wire = any(f.name in WIRE_FAULTS for f in faults)
        transports: dict[str, Transport] = {}
        for d in stand.devices:
            t = d.link
            if d.serial or (wire and len(stand.devices) == 1):  # line faults need a line: model the RTU bytes
                transports[d.name] = LockstepRtuTransport(RtuLine(firmware, t.unit, d.name), t.unit, t.timeout_s,
                                                          t.retries, costs_time=not d.serial or len(stand.devices) == 1)
            else:
                transports[d.name] = LockstepTransport(firmware, d.name)
        return Link(transports, VirtualClock(firmware), firmware=firmware)
    single = len(stand.devices) == 1
    lines = sorted({d.serial for d in stand.devices if d.serial}) if not single else []
    child = start_sim(stand_path, mode.value if single else "tcp", seed=seed,
                      faults=tuple(f.spec() for f in faults), rt_priority=rt_priority, baud=SIM_RTU_BAUD,
                      lines=tuple(lines))
    try:
        if single:
            links = {stand.devices[0].name: sim_transport(stand.transport, child)}
        else:
            links = sim_links(stand, child)
        return Link(open_transports(stand, links), MonotonicClock(), child=child)
    except Exception:
        child.stop()
        raise


def sim_links(stand: StandConfig, child: Child) -> dict[str, TransportConfig]:
    """Every device's link pointed at where the simulator child serves it."""
    served = child.ready.get("devices", {})
    out = {}
    for d in stand.devices:
        where = served.get(d.name)
        if where is None:
            raise ProtocolError(f"the simulator announced no endpoint for device {d.name!r}: {child.ready}")
        if d.serial:
            out[d.name] = dataclasses.replace(d.link, device=child.ptys[d.serial].b,
                                              timeout_s=max(d.link.timeout_s, SIM_RTU_MIN_TIMEOUT_S))
        else:
            out[d.name] = dataclasses.replace(d.link, host="127.0.0.1", port=int(str(where).rsplit(":", 1)[1]))
    return out


def sim_transport(cfg: TransportConfig, child: Child) -> TransportConfig:
    """A single-device stand's transport settings pointed at a simulator child."""
    if child.pty is None:
        return dataclasses.replace(cfg, kind=LinkKind.TCP, host="127.0.0.1", port=child.port)
    return dataclasses.replace(cfg, kind=LinkKind.RTU, device=child.pty.b, baud=SIM_RTU_BAUD, parity="N",
                               timeout_s=max(cfg.timeout_s, SIM_RTU_MIN_TIMEOUT_S))


def with_engine(stand: StandConfig, sim: str | None, engine: tuple[tuple[str, float], ...] = (),
                noise_scale: float | None = None) -> StandConfig:
    """The stand with another simulated engine (``hil run --engine``, ``--noise-scale``: one
    engine of a campaign); ConfigError when the stand is not simulated in this process (a child
    simulator reads its stand file) or a value is wrong."""
    if not engine and noise_scale is None:
        return stand
    if stand.sim is None or sim != "lockstep":
        raise ConfigError("--engine and --noise-scale change the simulated engine: they need --sim lockstep "
                          "and a simulated stand", path=stand.path)
    from firmware_sim.engine import engine_params

    try:
        engine_params(stand.sim.engine, engine)
    except ValueError as exc:
        raise ConfigError(str(exc), path=stand.path) from None
    scale = stand.sim.noise_scale if noise_scale is None else noise_scale
    if not scale >= 0:
        raise ConfigError(f"--noise-scale {scale!r} must be ≥ 0", path=stand.path)
    return stand.replaced(sim=dataclasses.replace(stand.sim, overrides=tuple(engine), noise_scale=scale))
