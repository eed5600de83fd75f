"""One campaign run, self-contained: what it is (:class:`RunSpec`, drawn from the campaign's
seed and the run's index alone) and what it found (a run row and one row per burn).

A run is an ordinary lockstep ``hil run`` with this engine's parameters (``--engine``,
``--noise-scale``), its fault and its sensor offsets; its row carries the command that replays
it. Everything here is a plain function of picklable values, so a process pool and a Dask
worker run exactly the same thing.
"""

from __future__ import annotations

import io
import math
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hil.campaign.spec import PHASES, Campaign, FaultCase, fault_at

ROW_KEYS = ("campaign", "sequence", "stand", "case", "fault", "phase", "run")


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs, nothing shared."""

    campaign: str
    index: int  # the run's number in the campaign: with the campaign seed, its engine
    sequence: str
    stand: str
    case: FaultCase
    fault_start_s: float | None
    seed: int  # the simulator's noise seed
    values: dict[str, float] = field(default_factory=dict)  # dispersed parameter -> this engine's value
    keep_dir: str | None = None  # copy the run directory here when it is kept
    keep_all: bool = False

    def options(self) -> dict[str, Any]:
        """The ``hil run`` options of this run."""
        engine = tuple((k, v) for k, v in self.values.items() if k != "noise_scale" and not k.startswith("sensor_"))
        faults = ([fault_at(self.case.fault, self.fault_start_s or 0.0)] if self.case.fault else []) + [
            f"sensor_offset:channel={k.split('.', 1)[1]},offset={v!r}@0"
            for k, v in self.values.items() if k.startswith("sensor_offset.")]
        return {"sequence": self.sequence, "stand": self.stand, "sim": "lockstep", "seed": self.seed,
                "faults": tuple(faults), "engine": engine, "noise_scale": self.values.get("noise_scale")}

    def command(self) -> str:
        """The command that replays this run alone (shipped files named as in the repository, so it
        reads the same on every machine and runs from any directory)."""
        o = self.options()
        args = ["hil", "run", replay_path(o["sequence"], "sequences"), "--stand", replay_path(o["stand"], "stands"),
                "--sim", "lockstep", "--seed", str(o["seed"]), "--auto-proceed"]
        for f in o["faults"]:
            args += ["--fault", f]
        for k, v in o["engine"]:
            args += ["--engine", f"{k}={v!r}"]
        if o["noise_scale"] is not None:
            args += ["--noise-scale", repr(o["noise_scale"])]
        return shlex.join(args)


def replay_path(path: str, kind: str) -> str:
    """A shipped stand or sequence as ``configs/<kind>/<file>``: relative to the repository, and
    ``hil run`` finds it from any directory by its name (hil/catalog.py); any other file by its
    absolute path, which is all that names it."""
    from hil.catalog import config_root

    p = Path(path).resolve()
    return f"configs/{kind}/{p.name}" if p.parent == (config_root() / kind).resolve() else str(p)


def engine_ignition_delay(spec: RunSpec, t_start_s: float | None) -> float:
    """The ignition delay this run's engine had at a burn starting at ``t_start_s`` (the lockstep
    clock): its ignition_delay_s (dispersed, else the stand's) plus a late_ignition fault's delay
    while that is on; NaN when nothing could light it (igniter_failure, ignition_failure on)."""
    from firmware_sim.faults import parse_fault
    from hil.stand import load_stand

    own = spec.values.get("ignition_delay_s")
    if own is None:
        own = _nominals(load_stand(spec.stand).sim)["ignition_delay_s"]
    if not spec.case.fault or t_start_s is None:
        return own
    f = parse_fault(fault_at(spec.case.fault, spec.fault_start_s or 0.0))
    if not f.start_s - 1e-6 <= t_start_s < f.end_s:
        return own
    if f.name in ("igniter_failure", "ignition_failure"):
        return math.nan
    return own + f.number("delay") if f.name == "late_ignition" else own


def plan(c: Campaign, phase_times: dict[tuple[str, str], dict[str, float]], keep_dir: str | None) -> list[RunSpec]:
    """Every run of the campaign, in a fixed order: sequence, stand, case, engine."""
    from hil.stand import load_stand

    presets = {str(s): _nominals(load_stand(s).sim) for s in c.stands}
    specs = []
    index = 0
    for seq in c.sequences:
        for stand in c.stands:
            for case in c.cases:
                start = phase_times[(str(seq), str(stand))][case.phase] if case.fault else None
                for _ in range(c.runs_per_case):
                    rng = np.random.default_rng([c.seed, index])
                    values = {d.name: d.draw(rng, presets[str(stand)].get(d.name, 0.0)) for d in c.dispersions}
                    specs.append(RunSpec(c.name, index, str(seq), str(stand), case, start,
                                         (c.seed * 1_000_003 + index) % 2**31, values, keep_dir, c.keep == "all"))
                    index += 1
    return specs


def _nominals(sim: Any) -> dict[str, float]:
    """Each dispersible parameter's value on the stand as it is (what rel_sd is taken of)."""
    from dataclasses import asdict

    from firmware_sim.engine import TUNABLE, engine_params

    p = asdict(engine_params(sim.engine, sim.overrides))
    return {**{k: float(p[k]) for k in TUNABLE}, "noise_scale": float(sim.noise_scale)}


def phase_times(sequence: str, stand: str, burn: int) -> dict[str, float]:
    """When each phase of ``burn`` happens on the simulator clock, from a nominal run."""
    from hil.record.recorder import read_events
    from hil.runner import RunOptions, run

    with tempfile.TemporaryDirectory() as d:
        res = run(RunOptions(sequence=sequence, stand=stand, sim="lockstep", out=str(Path(d) / "r"), progress=False,
                             auto_proceed=True), out=io.StringIO())
        if res.summary.get("outcome") != "completed":
            raise RuntimeError(f"the nominal run of {sequence} on {stand} did not complete "
                               f"({res.summary.get('outcome')}: {res.summary.get('abort_reason')}): no phases")
        events = read_events(Path(d) / "r")
    out = {}
    for phase, (kind, offset) in PHASES.items():
        times = [e["t"] for e in events if e["kind"] == kind]
        if len(times) < burn:
            raise RuntimeError(f"{sequence} has {len(times)} burn(s); the campaign asks for the phases of burn {burn}")
        out[phase] = round(times[burn - 1] + offset, 4)
    return out


def run_one(spec: RunSpec) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run it; its row and its burns' rows. The run directory is kept when asked or when the
    run did not end as expected."""
    from hil.record.recorder import read_events
    from hil.runner import RunOptions, run

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "run"
        o = spec.options()
        log = io.StringIO()
        res = run(RunOptions(out=str(out), progress=False, auto_proceed=True, **o), out=log)
        s = res.summary
        events = read_events(out) if (out / "events.jsonl").is_file() else []
        row = _row(spec, res.exit_code, s, events, _overpressure_limit(spec.stand))
        if spec.keep_dir and (spec.keep_all or not row["as_expected"]) and out.is_dir():
            kept = Path(spec.keep_dir) / f"run{spec.index:05d}"
            shutil.copytree(out, kept, dirs_exist_ok=True)
            row["run_dir"] = str(kept)
    limits = _start_limits(spec.stand)
    burns = [{**{k: row[k] for k in ROW_KEYS}, **_burn(b), **limits,
              "engine_ignition_delay_s": _known(round(engine_ignition_delay(spec, b.get("t_start_s")), 4))}
             for b in s.get("burns", [])]
    return row, burns


def _start_limits(stand: str) -> dict[str, float | None]:
    """The levels the start envelope is drawn against (MPa; None: the stand has none): the
    firmware's overpressure limit, its hard-start trip, the controller's hard-start cut."""
    from hil.stand import load_stand

    st = load_stand(stand)
    fw, ign = st.firmware, st.ignition

    def finite(x: float | None) -> float | None:
        return x if x is not None and math.isfinite(x) else None

    return {"limit.overpressure_mpa": finite(fw.overpressure_limit) if fw else None,
            "limit.firmware_hard_start_mpa": finite(fw.hard_start_above) if fw else None,
            "limit.controller_hard_start_mpa": finite(ign.hard_start_above) if ign else None}


def _overpressure_limit(stand: str) -> float | None:
    """The firmware's overpressure limit (MPa): beyond it a start is a hard start."""
    from hil.stand import load_stand

    fw = load_stand(stand).firmware
    return fw.overpressure_limit if fw is not None else None


def _row(spec: RunSpec, code: int, s: dict[str, Any], events: list[dict[str, Any]],
         limit: float | None) -> dict[str, Any]:
    plant = s.get("firmware") or {}
    start = spec.fault_start_s
    first = next((e["t"] for e in events if e["kind"] in ("abort", "fault", "sensor_disqualified")
                  and (start is None or e["t"] >= start - 1e-6)), None)
    safe = bool(plant.get("valves_closed")) and not plant.get("burning", True)
    hard = limit is not None and float(plant.get("peak_pc_mpa", 0.0)) > limit
    expected = (s.get("outcome") == "completed") if not spec.case.fault else (safe and not hard)
    row: dict[str, Any] = {
        "campaign": spec.campaign, "sequence": Path(spec.sequence).stem, "stand": Path(spec.stand).stem,
        "case": spec.case.label, "fault": spec.case.fault, "phase": spec.case.phase, "run": spec.index,
        "seed": spec.seed, "fault_start_s": start,
        **{f"disp.{k}": v for k, v in spec.values.items()},
        "exit_code": code, "outcome": s.get("outcome", "invalid"), "abort_reason": s.get("abort_reason") or "",
        "final_state": s.get("final_state", ""),
        "reaction_s": round(first - start, 4) if first is not None and start is not None else None,
        "peak_pc_mpa": float(plant.get("peak_pc_mpa", float("nan"))),
        "safe_at_end": safe, "valves_closed": bool(plant.get("valves_closed")),
        "burning_at_end": bool(plant.get("burning", True)), "hard_start": hard, "burns": len(s.get("burns", [])),
        "recording_complete": s.get("samples") == (s.get("loop") or {}).get("cycles") and not s.get("recording_truncated"),
        "as_expected": bool(expected), "run_dir": "", "replay": spec.command(),
    }
    for name, m in (s.get("redline_margins") or {}).items():
        row[f"margin.{name}"] = m["margin"]
    return row


def _burn(b: dict[str, Any]) -> dict[str, Any]:
    steps = b.get("throttle_steps") or []

    def worst(key: str) -> float | None:
        vals = [st[key] for st in steps if st.get(key) is not None]
        return max(vals) if vals else None

    return {"burn": b.get("index"), "ignited": b.get("ignited"), "t_start_s": b.get("t_start_s"),
            "ignition_delay_s": b.get("ignition_delay_s"), "t90_s": b.get("t90_s"), "duration_s": b.get("duration_s"),
            "pc_mean_mpa": b.get("pc_mean_mpa"), "pc_peak_mpa": b.get("pc_peak_mpa"), "of_mean": b.get("of_mean"),
            "settle_s_max": worst("settle_s"), "overshoot_pct_max": worst("overshoot_pct"),
            "tracking_rms_pct_max": worst("tracking_rms_pct"), "total_impulse_kns": b.get("total_impulse_kns"),
            **{k: _known(b.get(k)) for k in ("t_igniter_proven_s", "t_ignition_s", "start_pc_peak_mpa",
                                              "start_rate_peak_mpa_s")}}


def _known(v: Any) -> float | None:
    """A figure for a Parquet row: unknown (NaN in summary.json) is null, as in every other column."""
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None
