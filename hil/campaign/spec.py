"""The campaign file: which sequences on which stands, which faults in which phases, and how the
engines are dispersed — read and checked like a stand file (every error names file and line).

    [campaign]
    name = "tq12_three_burn_dispersed"
    seed = 2026                      # every run's engine is drawn from (seed, run index): reproducible alone
    runs_per_case = 40               # dispersed engines per case (the nominal case and each fault × phase)
    keep = "unexpected"              # run directories kept: "unexpected" (default) or "all"

    [run]
    sequences = ["tq12_three_burn"]  # shipped names or paths (relative to this file)
    stands = ["sim_tq12"]            # simulated stands (lockstep)

    [faults]
    nominal = true                   # include the fault-free case
    list = ["late_ignition:delay=0.08", "valve_slow:valve=ox_main,factor=1.3"]
    phases = ["start transient", "mainstage"]
    burn = 1                         # the phases of which burn (from a nominal run of each sequence)

    [dispersions]
    valve_stroke_s = { dist = "normal", rel_sd = 0.05 }        # around the preset's value
    ignition_delay_s = { dist = "uniform", lo = 0.02, hi = 0.06 }
    noise_scale = { dist = "uniform", lo = 0.5, hi = 2.0 }
    "sensor_offset.pc" = { dist = "normal", mean = 0.0, sd = 0.01 }   # MPa, on from t = 0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hil.errors import ConfigError, HilError
from hil.stand.toml_table import TableReader, read_toml

# where each phase's fault starts, from the events of a nominal run: (anchor event, offset s)
PHASES: dict[str, tuple[str, float]] = {
    "pre-ignition": ("ignition_confirmed", -0.3),
    "start transient": ("ignition_confirmed", 0.05),
    "mainstage": ("ignition_confirmed", 1.5),
    "shutdown": ("shutdown_commanded", 0.03),
    "between burns": ("shutdown_commanded", 2.0),
}
DISTS = ("normal", "uniform")


@dataclass(frozen=True)
class Dispersion:
    """One dispersed parameter: an engine parameter, ``noise_scale``, or ``sensor_offset.<channel>``."""

    name: str
    dist: str
    mean: float | None = None  # normal: None is the preset's value
    sd: float | None = None
    rel_sd: float | None = None
    lo: float = -math.inf  # uniform: the range; normal: clipped to it
    hi: float = math.inf

    def draw(self, rng: np.random.Generator, nominal: float) -> float:
        if self.dist == "uniform":
            return float(rng.uniform(self.lo, self.hi))
        mean = nominal if self.mean is None else self.mean
        sd = self.sd if self.sd is not None else abs(mean) * (self.rel_sd or 0.0)
        return float(np.clip(rng.normal(mean, sd), self.lo, self.hi))


@dataclass(frozen=True)
class FaultCase:
    """The nominal case (``fault`` empty) or one fault in one phase."""

    fault: str = ""
    phase: str = ""

    @property
    def label(self) -> str:
        return f"{self.fault} @ {self.phase}" if self.fault else "nominal"


@dataclass(frozen=True)
class Campaign:
    path: Path
    name: str
    description: str
    seed: int
    runs_per_case: int
    keep: str
    sequences: tuple[Path, ...]
    stands: tuple[Path, ...]
    cases: tuple[FaultCase, ...]
    burn: int
    dispersions: tuple[Dispersion, ...] = field(default=())

    @property
    def total_runs(self) -> int:
        return len(self.sequences) * len(self.stands) * len(self.cases) * self.runs_per_case


def load_campaign(path: str | Path) -> Campaign:
    """Read and check a campaign file; ConfigError names the file, key and line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read campaign file: {exc.strerror}", path=str(p)) from exc
    top = read_toml(text, str(p))
    c = top.sub("campaign", required=True)
    assert c is not None
    name = c.get("name", str)
    if not name or any(ch in name for ch in "/\\=") or name.startswith("."):
        raise c.error("name", f"must be a plain name (it names a Parquet partition), got {name!r}")
    head = dict(name=name, description=c.get("description", str, ""), seed=c.integer("seed", 0, lo=0, hi=2**31 - 1),
                runs_per_case=c.integer("runs_per_case", 1, lo=1, hi=1_000_000),
                keep=c.choice("keep", ("unexpected", "all"), "unexpected"))
    c.done()
    r = top.sub("run", required=True)
    assert r is not None
    sequences = _find(r, "sequences", p, "sequence")
    stands = _find(r, "stands", p, "stand")
    r.done()
    cases, burn = _faults(top.sub("faults"))
    dispersions = _dispersions(top.sub("dispersions"), stands)
    top.done()
    return Campaign(p, sequences=sequences, stands=stands, cases=cases, burn=burn, dispersions=dispersions, **head)


def _find(t: TableReader, key: str, base: Path, kind: str) -> tuple[Path, ...]:
    from hil.catalog import find_sequence, find_stand

    items = t.get(key, list)
    if not items or not all(isinstance(x, str) for x in items):
        raise t.error(key, f"must be a non-empty list of {kind} names or paths")
    out = []
    for x in items:
        local = base.parent / x
        try:
            out.append(local if local.is_file() else (find_sequence(x) if kind == "sequence" else find_stand(x)))
        except ConfigError as exc:
            raise t.error(key, f"{x!r}: {exc}") from None
    if kind == "stand":
        from hil.stand import load_stand

        for x, path in zip(items, out):
            try:
                stand = load_stand(path)
            except ConfigError as exc:
                raise t.error(key, f"{x!r}: {exc}") from None
            if stand.sim is None:
                raise t.error(key, f"{x!r} is not a simulated stand (no [sim]): a campaign runs in lockstep")
    return tuple(Path(o) for o in out)


def _faults(t: TableReader | None) -> tuple[tuple[FaultCase, ...], int]:
    if t is None:
        return (FaultCase(),), 1
    from firmware_sim.faults import parse_fault

    nominal = t.get("nominal", bool, True)
    specs = t.get("list", list, [])
    phases = t.get("phases", list, list(PHASES) if specs else [])
    burn = t.integer("burn", 1, lo=1, hi=100)
    for s in specs:
        if not isinstance(s, str) or "@" in s:
            raise t.error("list", f"each fault is NAME[:K=V,...][+DURATION] without '@' (the phase gives the start), "
                                  f"got {s!r}")
        try:
            parse_fault(fault_at(s, 0.0))
        except (ValueError, HilError) as exc:
            raise t.error("list", f"{s!r}: {exc}") from None
    for ph in phases:
        if ph not in PHASES:
            raise t.error("phases", f"unknown phase {ph!r}; phases: {', '.join(PHASES)}")
    t.done()
    cases = ([FaultCase()] if nominal else []) + [FaultCase(s, ph) for s in specs for ph in phases]
    if not cases:
        raise t.error("nominal", "no case to run: nominal = false and no faults")
    return tuple(cases), burn


def fault_at(spec: str, t: float) -> str:
    """A campaign fault (NAME[:K=V][+DUR]) as a simulator fault starting at ``t``."""
    base, plus, dur = spec.partition("+")
    return f"{base}@{t:.4f}" + (f"+{dur}" if plus else "")


def _dispersions(t: TableReader | None, stands: tuple[Path, ...]) -> tuple[Dispersion, ...]:
    if t is None:
        return ()
    from firmware_sim.engine import TUNABLE
    from hil.stand import load_stand

    channels = set.intersection(*({c.name for c in load_stand(s).channels} for s in stands))
    out = []
    for key in list(t.data):
        d = t.sub(key)
        assert d is not None
        if key.startswith("sensor_offset."):
            if key.split(".", 1)[1] not in channels:
                raise t.error(key, f"no channel {key.split('.', 1)[1]!r} on every stand of [run]")
        elif key != "noise_scale" and key not in TUNABLE:
            raise t.error(key, f"not a dispersible parameter; engine parameters: {', '.join(TUNABLE)}; "
                               "also noise_scale and sensor_offset.<channel>")
        dist = d.choice("dist", DISTS)
        if dist == "uniform":
            lo, hi = d.number("lo"), d.number("hi")
            if not lo < hi:
                raise d.error("hi", f"must be above lo ({lo:g})")
            out.append(Dispersion(key, dist, lo=lo, hi=hi))
        else:
            mean = d.number("mean", None)
            sd, rel = d.number("sd", None, lo=0.0), d.number("rel_sd", None, lo=0.0)
            if (sd is None) == (rel is None):
                raise d.error("sd", "give exactly one of sd (absolute) and rel_sd (of the mean)")
            lo, hi = d.pair("clip", (-math.inf, math.inf))
            out.append(Dispersion(key, dist, mean=mean, sd=sd, rel_sd=rel, lo=lo, hi=hi))
        d.done()
    t.done()
    return tuple(out)


def describe(c: Campaign) -> str:
    """One paragraph: what the campaign runs."""
    return (f"{c.name}: {len(c.sequences)} sequence(s) × {len(c.stands)} stand(s) × {len(c.cases)} case(s) × "
            f"{c.runs_per_case} engine(s) = {c.total_runs} runs; dispersed: "
            + (", ".join(d.name for d in c.dispersions) or "nothing"))


def as_dict(c: Campaign) -> dict[str, Any]:
    return {"name": c.name, "seed": c.seed, "runs_per_case": c.runs_per_case, "total_runs": c.total_runs,
            "sequences": [str(s) for s in c.sequences], "stands": [str(s) for s in c.stands],
            "cases": [k.label for k in c.cases], "dispersions": [d.name for d in c.dispersions]}
