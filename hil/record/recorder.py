"""Recording a run: every cycle into an Arrow IPC stream, every event into JSON lines, a summary,
and copies of the input files with their SHA-256.

``data.arrow`` is a plain Arrow IPC *stream* (pyarrow.ipc.open_stream, polars.read_ipc_stream,
pandas via pyarrow) written in batches of at most 0.25 s by a writer thread, each batch flushed
to the OS: a ``kill -9`` of the controller loses at most the rows not yet handed over (the open
batch, < 0.5 s). :func:`read_run` recovers everything before a torn final message.
"""

from __future__ import annotations

import hashlib
import json
import queue
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from hil.files import write_json_atomic
from hil.frames import RECORD_TAIL, FrameLayout
from hil.safety.supervisor import STATE_NAMES
from hil.stand import StandConfig

DATA, EVENTS, SUMMARY, INPUTS = "data.arrow", "events.jsonl", "summary.json", "inputs"


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Recorder:
    """Owns a run directory while the loop runs."""

    def __init__(self, run_dir: str | Path, layout: FrameLayout, *, states: tuple[str, ...],
                 batch_rows: int = 250) -> None:
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.layout = layout
        self.channels, self.commands, self.states = list(layout.channels), list(layout.actuators), states
        self.extra = list(RECORD_TAIL)
        self.batch_rows = batch_rows
        types = {"time": pa.float64(), "cycle": pa.int64(), "lateness_ms": pa.float32(), "state": pa.string(),
                 "step": pa.int32()}
        fields = [pa.field(c, types.get(c, pa.float64())) for c in layout.record_columns()]
        self.schema = pa.schema(fields, metadata={"producer": "hil-stand", "states": json.dumps(list(states))})
        self._sink = pa.OSFile(str(self.dir / DATA), "wb")
        self._writer = ipc.new_stream(self._sink, self.schema)
        self._events = open(self.dir / EVENTS, "a", buffering=1, encoding="utf-8")
        self._alloc()
        self.rows_written = 0
        self.events_lost = 0  # events.jsonl lines that could not be written (said at close)
        self.bytes_written = 0
        self._q: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._drainer = threading.Thread(target=self._drain, name="recorder", daemon=True)
        self._drainer.start()
        self.closed = False

    def _alloc(self) -> None:
        n = self.batch_rows
        self._t = np.empty(n)
        self._cycle = np.empty(n, dtype=np.int64)
        self._late = np.empty(n, dtype=np.float32)
        self._state = np.empty(n, dtype=np.int8)
        self._step = np.empty(n, dtype=np.int32)
        self._vals = np.empty((n, len(self.channels)))
        self._cmds = np.empty((n, len(self.commands)))
        self._extra = np.empty((n, len(self.extra)))
        self._n = 0

    # ------------------------------------------------------------------ per cycle

    def append(self, t: float, cycle: int, lateness_ms: float, state: int, step: int,
               values: np.ndarray, commands: np.ndarray, extra: tuple[float, ...] = ()) -> None:
        """One row. Cheap: copies into preallocated columns; the thread does the Arrow work."""
        i = self._n
        self._t[i], self._cycle[i], self._late[i], self._state[i], self._step[i] = t, cycle, lateness_ms, state, step
        self._vals[i] = values
        self._cmds[i] = commands
        if extra:
            self._extra[i] = extra
        self._n = i + 1
        if self._n == self.batch_rows:
            self.flush()

    def flush(self) -> None:
        """Hand the open batch to the writer thread."""
        if self._n:
            n = self._n
            self._q.put((self._t[:n], self._cycle[:n], self._late[:n], self._state[:n], self._step[:n],
                         self._vals[:n], self._cmds[:n], self._extra[:n]))
            self._alloc()

    def _drain(self) -> None:
        from hil.rt import background_thread

        background_thread()
        states = np.array(self.states, dtype=object)
        while True:
            item = self._q.get()
            if item is None:
                return
            try:
                t, cyc, late, st, step, vals, cmds, extra = item
                cols = [pa.array(t), pa.array(cyc), pa.array(late), pa.array(states[st], type=pa.string()),
                        pa.array(step)]
                cols += [pa.array(vals[:, j]) for j in range(vals.shape[1])]
                cols += [pa.array(cmds[:, j]) for j in range(cmds.shape[1])]
                cols += [pa.array(extra[:, j]) for j in range(extra.shape[1])]
                self._writer.write_batch(pa.RecordBatch.from_arrays(cols, schema=self.schema))
                self._sink.flush()
                self.rows_written += len(t)
                self.bytes_written = self._sink.tell()
            except BaseException as exc:  # keep the loop alive; report at close
                self._error = exc

    # ------------------------------------------------------------------ events and files

    def event(self, t: float, kind: str, **fields: Any) -> None:
        """One line of events.jsonl, written through immediately (line-buffered). A write that
        fails (a full disk, a lost mount) is kept for :meth:`close` to report, as a failed data
        write is: the event bus writes before it tells anyone, and an abort's own event must
        never stop the abort (the supervisor logs it before it changes state)."""
        rec = {"t": round(t, 6), "wall": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "kind": kind, **fields}
        try:
            self._events.write(json.dumps(rec, default=str) + "\n")
        except (OSError, ValueError) as exc:  # ValueError: the file was closed under us
            self.events_lost += 1
            if self._error is None:
                self._error = exc

    def copy_input(self, path: str | Path) -> dict[str, str]:
        """Copy an input file next to the data; returns its record for the summary."""
        src = Path(path)
        dst_dir = self.dir / INPUTS
        dst_dir.mkdir(exist_ok=True)
        shutil.copyfile(src, dst_dir / src.name)
        return {"path": str(src), "copy": f"{INPUTS}/{src.name}", "sha256": sha256_file(src)}

    def close(self, summary: dict[str, Any] | None = None) -> None:
        """Write the open batch, close the stream and the event log, write summary.json."""
        if self.closed:
            return
        self.closed = True
        self.flush()
        self._q.put(None)
        self._drainer.join()
        self._writer.close()
        self._sink.close()
        self._events.close()
        if summary is not None:
            write_json_atomic(self.dir / SUMMARY, summary)
        if self._error is not None:
            lost = f" ({self.events_lost} event(s) not written to {EVENTS})" if self.events_lost else ""
            raise RuntimeError(f"recording failed: {self._error}{lost}") from self._error


def new_recorder(run_dir: str | Path, stand: StandConfig) -> Recorder:
    """A recorder with this stand's columns and the controller's state names."""
    return Recorder(run_dir, FrameLayout.of(stand), states=STATE_NAMES)


@dataclass
class RunData:
    """What :func:`read_run` found."""

    table: pa.Table
    truncated: bool  # the stream ended mid-message (the writer was killed)


def read_run(run_dir: str | Path) -> RunData:
    """Read data.arrow, keeping every complete batch of a stream cut short by a kill."""
    path = Path(run_dir) / DATA if Path(run_dir).is_dir() else Path(run_dir)
    batches = []
    truncated = False
    with pa.OSFile(str(path), "rb") as f:
        reader = ipc.open_stream(f)
        schema = reader.schema
        while True:
            try:
                batches.append(reader.read_next_batch())
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError):
                truncated = True
                break
    return RunData(pa.Table.from_batches(batches, schema=schema), truncated)


def read_events(run_dir: str | Path) -> list[dict[str, Any]]:
    """A run's events, skipping a line torn by a kill (none when the file is missing)."""
    p = Path(run_dir) / EVENTS
    out: list[dict[str, Any]] = []
    if p.exists():
        for line in p.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    """A run's summary.json (empty when the run never wrote one)."""
    p = Path(run_dir) / SUMMARY
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


def export(run_dir: str | Path, fmt: str, out: str | Path | None = None) -> Path:
    """Write the run's data as CSV or Parquet next to it (or at ``out``)."""
    data = read_run(run_dir).table
    target = Path(out) if out else Path(run_dir) / f"data.{ 'csv' if fmt == 'csv' else 'parquet'}"
    if fmt == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(data, str(target))
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(data, str(target))
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    return target


def stand_of_run(run_dir: str | Path) -> Any:
    """The stand config a run was recorded with (its copy under inputs/), for anything that
    re-reads a run: the report, the console's replay."""
    from hil.stand import load_stand  # the stand package imports nothing from here: no cycle

    d = Path(run_dir)
    summary = d / SUMMARY
    if summary.exists():
        copy = json.loads(summary.read_text()).get("stand", {}).get("copy")
        if copy and (d / copy).exists():
            return load_stand(d / copy)
    for p in sorted((d / INPUTS).glob("*.toml")):
        try:
            return load_stand(p)
        except Exception:  # the sequence's copy is not a stand
            continue
    raise FileNotFoundError(f"{d}: no stand config among the recorded inputs")
