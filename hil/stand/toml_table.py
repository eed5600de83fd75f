"""Reading TOML with located errors: tomllib gives no positions, so a side index maps every key
path to its line, and a table reader raises errors naming file, key and line and refuses keys it
does not know (a typo must not be silently ignored). Shared by the stand and sequence loaders.
"""

from __future__ import annotations

import re
import tomllib
from enum import StrEnum
from typing import Any, TypeVar

import numpy as np

from hil.errors import ConfigError

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEYLINE = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=")


def locate_keys(text: str) -> dict[tuple[Any, ...], int]:
    """Map key paths (``("channels", 2, "register")``) to 1-based line numbers.

    tomllib gives no positions, so the loader keeps this side index: it understands table
    and array-of-table headers and ``key =`` lines, which is where a person looks anyway.
    Keys inside inline tables or multi-line arrays resolve to their parent's line.
    """
    lines: dict[tuple[Any, ...], int] = {}
    current: tuple[Any, ...] = ()
    array_counts: dict[tuple[Any, ...], int] = {}
    depth = 0  # bracket depth of a multi-line value
    array_key: tuple[Any, ...] | None = None  # a multi-line array being read
    elem = 0
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0] if '"' not in raw else raw
        if depth == 0:
            array_key = None
            m = _HEADER.match(raw)
            if m and not _KEYLINE.match(raw):
                names = tuple(p.strip().strip('"') for p in m.group(2).split("."))
                if m.group(1) == "[[":
                    idx = array_counts.get(names, 0)
                    array_counts[names] = idx + 1
                    current = names + (idx,)
                else:
                    current = names
                lines.setdefault(current, no)
                continue
            k = _KEYLINE.match(raw)
            if k:
                lines[current + (k.group(1).strip('"'),)] = no
                array_key, elem = current + (k.group(1).strip('"'),), 0
        elif depth == 1 and array_key is not None and raw.lstrip().startswith("{"):
            # one inline table per line inside a multi-line array: each element gets its line
            lines[array_key + (elem,)] = no
            elem += 1
        depth += line.count("[") + line.count("{") - line.count("]") - line.count("}")
        depth = max(depth, 0)
    return lines


class SourceIndex:
    """Error reporting context: the file, its text's line index."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = locate_keys(text)

    def line_of(self, keypath: tuple[Any, ...]) -> int | None:
        kp = keypath
        while kp:
            if kp in self.lines:
                return self.lines[kp]
            kp = kp[:-1]
        return None

    def error(self, keypath: tuple[Any, ...], message: str) -> ConfigError:
        return ConfigError(message, path=self.path, key=keystr(keypath), line=self.line_of(keypath))


def keystr(keypath: tuple[Any, ...]) -> str:
    out = ""
    for p in keypath:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


MISSING = object()
E = TypeVar("E", bound=StrEnum)


class TableReader:
    """A TOML table being read: typed getters that raise located errors, and a check that
    nothing unknown was left over (a typo in a key must not be silently ignored)."""

    def __init__(self, ctx: SourceIndex, data: Any, keypath: tuple[Any, ...]) -> None:
        if not isinstance(data, dict):
            raise ctx.error(keypath, f"must be a table, got {type(data).__name__}")
        self.ctx, self.data, self.kp = ctx, data, keypath
        self.used: set[str] = set()

    def get(self, key: str, types: type | tuple[type, ...], default: Any = MISSING) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is MISSING:
                raise self.ctx.error(self.kp + (key,), "is required")
            return default
        value = self.data[key]
        if types is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, types) and (types is bool or not isinstance(value, bool))
        if not ok:
            names = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
            raise self.ctx.error(self.kp + (key,), f"must be {names}, got {value!r}")
        return value

    def number(self, key: str, default: Any = MISSING, *, lo: float | None = None,
               hi: float | None = None, positive: bool = False) -> float:
        v = self.get(key, float, default)
        if v is default and default is not MISSING:
            return v
        if not np.isfinite(v) or (positive and v <= 0) or (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = "> 0" if positive else f"in [{lo}, {hi}]"
            raise self.error(key, f"must be a finite number {rng}, got {v!r}")
        return v

    def integer(self, key: str, default: Any = MISSING, *, lo: int = 0, hi: int = 65535) -> int:
        v = self.get(key, int, default)
        if v is default and default is not MISSING:
            return v
        if not lo <= v <= hi:
            raise self.error(key, f"must be an integer in [{lo}, {hi}], got {v}")
        return v

    def choice(self, key: str, options: tuple[str, ...], default: Any = MISSING) -> str:
        v = self.get(key, str, default)
        if v not in options:
            raise self.error(key, f"must be one of {', '.join(options)}; got {v!r}")
        return v

    def enum(self, key: str, kind: type[E], default: Any = MISSING) -> E:
        """A string that must be one of ``kind``'s values, returned as the enum member."""
        return kind(self.choice(key, tuple(m.value for m in kind), default))

    def pair(self, key: str, default: Any = MISSING) -> tuple[float, float]:
        v = self.get(key, list, default)
        if v is default and default is not MISSING:
            return v
        if len(v) != 2 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v) or v[0] >= v[1]:
            raise self.error(key, f"must be [low, high] with low < high, got {v!r}")
        return (float(v[0]), float(v[1]))

    def sub(self, key: str, required: bool = False) -> TableReader | None:
        if key not in self.data:
            if required:
                raise self.ctx.error(self.kp + (key,), "table is required")
            self.used.add(key)
            return None
        self.used.add(key)
        return TableReader(self.ctx, self.data[key], self.kp + (key,))

    def array(self, key: str) -> list[TableReader]:
        self.used.add(key)
        items = self.data.get(key, [])
        if not isinstance(items, list):
            raise self.ctx.error(self.kp + (key,), "must be an array of tables ([[...]])")
        return [TableReader(self.ctx, it, self.kp + (key, i)) for i, it in enumerate(items)]

    def error(self, key: str, message: str) -> ConfigError:
        return self.ctx.error(self.kp + (key,), message)

    def done(self) -> None:
        extra = sorted(set(self.data) - self.used)
        if extra:
            raise self.ctx.error(self.kp + (extra[0],), f"unknown key {extra[0]!r} (typo?)")


# --------------------------------------------------------------------------- sections

def read_toml(text: str, path: str) -> TableReader:
    """Parse TOML into the top-level table reader; a syntax error names its line."""
    ctx = SourceIndex(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(f"not valid TOML: {exc}", path=path, line=int(m.group(1)) if m else None) from exc
    return TableReader(ctx, data, ())
