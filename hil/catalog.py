"""Finding stands and sequences by name: a path that exists is used as it is; otherwise the name
is looked up among the shipped configs (``configs/`` in a source checkout, package data in an
installed ``hil-stand``), so ``hil run tq12_three_burn --sim lockstep`` works from any directory.
A sequence that says ``stand = "NAME"`` picks its stand when none is given.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from hil.errors import ConfigError


def config_root() -> Path:
    """Where the shipped stands and sequences are."""
    return Path(str(resources.files("hil") / "configs"))


def _find(ref: str | Path, kind: str) -> Path:
    p = Path(ref)
    if p.exists():
        return p
    folder = config_root() / kind
    for cand in (folder / p.name, folder / f"{p.name}.toml"):
        if cand.is_file():
            return cand
    names = sorted(f.stem for f in folder.glob("*.toml"))
    raise ConfigError(f"no such file, and no shipped {kind[:-1]} of that name (shipped: {', '.join(names)})",
                      path=str(ref))


def find_sequence(ref: str | Path) -> Path:
    """A sequence file by path or shipped name."""
    return _find(ref, "sequences")


def find_stand(ref: str | Path) -> Path:
    """A stand file by path, file name, or the ``[stand] name`` of a shipped stand."""
    try:
        return _find(ref, "stands")
    except ConfigError:
        for f in sorted((config_root() / "stands").glob("*.toml")):
            if _head(f, "stand", "name") == str(ref):
                return f
        raise


def stand_for(sequence: Path) -> Path:
    """The stand a sequence names in ``[sequence] stand`` (the first, when it names several)."""
    name = _head(sequence, "sequence", "stand")
    if not name:
        raise ConfigError("names no stand ([sequence] stand = \"...\"): give --stand", path=str(sequence))
    return find_stand(name)


def _head(path: Path, table: str, key: str) -> str:
    try:
        value = tomllib.loads(path.read_text(encoding="utf-8")).get(table, {}).get(key, "")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ""
    if isinstance(value, list) and value and isinstance(value[0], str):
        return value[0]  # a sequence written for several stands: the first is its default
    return value if isinstance(value, str) else ""
