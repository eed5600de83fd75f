"""The zero file: transducer offsets measured at pre-test checkout (`hil checkout zero`), kept
next to the stand file and applied by the loader, so every run uses the offsets of the last
checkout and records which file that was (path, SHA-256, date, operator).

    sim_tq12.toml            the stand
    sim_tq12.zero.toml       its zero file: [zero] when/who/how long, [offsets.<channel>]

An offset is subtracted from the channel's reading (its linear calibration's offset moves by
it). Each entry keeps the calibration it was measured against: a calibration changed since
(a new transducer, a new range) makes the file refuse to load for that channel until the
stand is zeroed again — offsets of another transducer are worse than none.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from hil.files import write_text_atomic
from hil.stand.calibration import Linear
from hil.stand.model import StandConfig
from hil.stand.toml_table import read_toml


def zero_path(stand_path: str | Path) -> Path:
    """Where a stand file's zero file lives."""
    p = Path(stand_path)
    return p.with_name(p.stem + ".zero.toml")


def apply_zero(stand: StandConfig, path: Path) -> StandConfig:
    """The stand with the zero file's offsets applied (located errors for a bad file)."""
    blob = path.read_bytes()
    top = read_toml(blob.decode("utf-8"), str(path))
    head = top.sub("zero", required=True)
    assert head is not None
    info = {"path": str(path), "sha256": hashlib.sha256(blob).hexdigest(), "date_utc": head.get("date_utc", str),
            "operator": head.get("operator", str), "seconds": head.number("seconds", 0.0)}
    head.get("stand", str, "")
    head.done()
    offs = top.sub("offsets", required=True)
    assert offs is not None
    by_name = {c.name: c for c in stand.channels}
    new: dict[str, Any] = {}
    for name in list(offs.data):
        entry = offs.sub(name)
        assert entry is not None
        ch = by_name.get(name)
        if ch is None:
            raise entry.error("offset", f"the stand has no channel {name!r}")
        cal = ch.calibration
        gain, base = entry.number("gain"), entry.number("calibration_offset")
        offset = entry.number("offset")
        entry.done()
        if not isinstance(cal, Linear):
            raise entry.error("offset", f"{name} has no linear calibration to apply an offset to")
        if abs(cal.gain - gain) > 1e-12 * max(1.0, abs(gain)) or abs(cal.offset - base) > 1e-12 * max(1.0, abs(base)):
            raise entry.error("gain", f"{name}'s calibration changed since it was zeroed on {info['date_utc']} "
                                      f"(gain {gain:g} → {cal.gain:g}, offset {base:g} → {cal.offset:g}): "
                                      f"zero the stand again (hil checkout zero)")
        new[name] = dataclasses.replace(ch, calibration=Linear(cal.gain, cal.offset - offset))
        info.setdefault("offsets", {})[name] = offset
    offs.done()
    channels = tuple(new.get(c.name, c) for c in stand.channels)
    return stand.replaced(channels=channels, zero=info)


def write_zero(path: Path, stand: StandConfig, offsets: dict[str, float], operator: str, seconds: float,
               date_utc: str) -> str:
    """Write a zero file; returns its SHA-256. ``stand`` is the stand as loaded without a zero
    file (the calibrations the offsets were measured against)."""
    lines = ["# Transducer offsets from `hil checkout zero`: subtracted from each channel's reading.",
             "# The loader applies this file to the stand file beside it; each run records its SHA-256.", "",
             "[zero]", f'stand = "{stand.name}"', f'date_utc = "{date_utc}"', f'operator = "{_escape(operator)}"',
             f"seconds = {seconds!r}", ""]
    for name, off in offsets.items():
        cal = stand.channel(name).calibration
        assert isinstance(cal, Linear)
        lines += [f'[offsets."{name}"]', f"offset = {float(off)!r}", f"gain = {float(cal.gain)!r}",
                  f"calibration_offset = {float(cal.offset)!r}", ""]
    text = "\n".join(lines)
    write_text_atomic(path, text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def unzeroed(stand: StandConfig) -> StandConfig:
    """The stand without its zero file's offsets (what a new zero is measured against)."""
    if stand.zero is None:
        return stand
    offsets = stand.zero.get("offsets", {})
    channels = tuple(dataclasses.replace(c, calibration=Linear(c.calibration.gain, c.calibration.offset + offsets[c.name]))
                     if c.name in offsets and isinstance(c.calibration, Linear) else c for c in stand.channels)
    return stand.replaced(channels=channels, zero=None)
