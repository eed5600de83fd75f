"""``hil check``: validate a sequence against its stand and print the timeline, the burns it
will make and each device's share of its serial line — a dry run, nothing is commanded.
Exit 0 valid, 1 invalid (hil/exits.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from hil.catalog import find_sequence, find_stand, stand_for
from hil.errors import ConfigError, SequenceInvalid
from hil.exits import EXIT_INVALID, EXIT_OK
from hil.sequence import load_sequence
from hil.sequence.burns import burn_windows
from hil.stand import StandConfig, load_stand
from hil.stand.device_tables import line_plan, line_quiet_plan


def check(sequence: str, stand_ref: str | None, out: TextIO = sys.stdout) -> int:
    """``hil check``: validate and print the timeline; 0 valid, 1 invalid."""
    stand_path: str | Path = stand_ref or "?"
    try:
        seq_path = find_sequence(sequence)
        stand_path = find_stand(stand_ref) if stand_ref else stand_for(seq_path)
        stand: StandConfig = load_stand(stand_path)
        seq = load_sequence(seq_path, stand)
    except SequenceInvalid as exc:
        for e in exc.errors:
            print(f"error: {e}", file=out)
        print(f"{len(exc.errors)} error(s): {sequence} is not valid for {stand_path}", file=out)
        return EXIT_INVALID
    except ConfigError as exc:
        print(f"error: {exc}", file=out)
        return EXIT_INVALID
    print(f"{seq.name} — {seq.description}" if seq.description else seq.name, file=out)
    print(f"stand {stand.name}; {len(seq.steps)} steps; T{seq.start_time:+g} to T{seq.end_time:+g} s nominal "
          f"(waits may extend it)", file=out)
    for i, s in enumerate(seq.steps):
        where = f"line {s.line}" if s.line else ""
        origin = f"  [{s.origin}]" if s.origin else ""
        label = f"  — {s.label}" if s.label else ""
        print(f"  {i:3d}  T{s.at:+8.3f}  {s.describe()}{label}   ({where}){origin}", file=out)
    windows = burn_windows(seq, stand)  # both chamber propellants open: a burn, unless a cold flow
    spans = ", ".join(f"T{a.at:+g}→" + (f"T{b.at:+g}" if b else "end") for a, b in windows)
    if seq.requires_ignition:
        print(f"{len(windows)} burn(s): {spans}", file=out)
    else:
        print(f"0 burn(s) (cold flow; propellants open {spans or 'never'})", file=out)
    if len(stand.devices) > 1:
        rates = ", ".join(f"{d.name} ({d.link.kind}, {f'{d.rate_hz:g} Hz' if d.rate_hz else 'every cycle'}"
                          f"{'' if d.critical else ', non-critical'})" for d in stand.devices)
        print(f"devices: {rates}", file=out)
        for serial, (share, terms) in line_plan(list(stand.devices), list(stand.channels), list(stand.actuators),
                                                stand.loop).items():
            print(f"serial line {serial}: {100 * share:.0f} % of its wire time ({'; '.join(terms)})", file=out)
        for serial, rules in line_quiet_plan(list(stand.devices), list(stand.channels)).items():
            print(f"serial line {serial}: after a timeout nothing is sent until it has been quiet for "
                  f"{'; '.join(rules)}; answers that do not match their request are dropped and counted", file=out)
    print("OK (dry run: nothing was commanded)", file=out)
    return EXIT_OK
