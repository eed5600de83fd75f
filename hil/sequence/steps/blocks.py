"""``run = "block"``, ``repeat = n``, ``every = s``: not a step of the timeline but a request to
insert a block's steps there; the loader expands it (hil/sequence/loader.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hil.sequence.steps.parse import StepParser
from hil.stand.toml_table import TableReader


@dataclass(frozen=True)
class BlockRun:
    """Insert ``block`` ``repeat`` times, ``every`` seconds apart, from the step's time."""

    block: str
    repeat: int
    every: float


def parse_block_run(p: StepParser, t: TableReader, key: str, common: dict[str, Any]) -> BlockRun:
    """The ``run`` key's table (the step's label is read but a block run has no line of its own)."""
    return BlockRun(t.get(key, str), t.integer("repeat", 1, lo=1, hi=1000), t.number("every", 0.0, lo=0.0, hi=1e5))
