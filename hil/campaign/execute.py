"""Running a campaign's runs on an existing engine: a process pool on this machine, or a Dask
distributed cluster (``--scheduler``). No scheduler of our own: the pool and Dask hand out the
runs, Dask retries the runs of a worker that died, and both cancel what has not started when
the campaign is interrupted. Results come back in run order whichever finished first.

Results are data: one row per run and one per burn, written as Parquet datasets partitioned by
campaign and sequence (``runs/campaign=NAME/sequence=SEQ/part-0.parquet``), which DuckDB,
pandas, Polars and Spark read as they are.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TextIO

from hil.campaign.runs import RunSpec, run_one

Result = tuple[dict[str, Any], list[dict[str, Any]]]


class Progress:
    """One line, rewritten: runs done of due, runs/s, ETA, and how many did not end as expected."""

    def __init__(self, total: int, out: TextIO | None = sys.stderr) -> None:
        self.total, self.out, self.t0, self.done, self.unexpected = total, out, time.monotonic(), 0, 0

    def tick(self, row: dict[str, Any]) -> None:
        self.done += 1
        self.unexpected += not row["as_expected"]
        if self.out is None:
            return
        el = time.monotonic() - self.t0
        rate = self.done / el if el > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        bar = "#" * int(30 * self.done / self.total)
        self.out.write(f"\r[{bar:<30}] {self.done}/{self.total} runs, {rate:.2f} runs/s, ETA {eta:5.0f} s, "
                       f"{self.unexpected} unexpected ")
        if self.done == self.total:
            self.out.write("\n")
        self.out.flush()


def run_local(specs: list[RunSpec], workers: int, progress: Progress | None = None,
              fn: Callable[[RunSpec], Result] = run_one) -> list[Result]:
    """A process pool of ``workers`` on this machine."""
    results: dict[int, Result] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fn, s): s.index for s in specs}
        try:
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                if progress:
                    progress.tick(results[futures[fut]][0])
        except BaseException:
            # interrupted: what has not started never will; the runs in progress end (seconds) so no
            # worker process is left behind
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [results[s.index] for s in specs]


def run_dask(specs: list[RunSpec], scheduler: str | Any, progress: Progress | None = None,
             retries: int = 2, fn: Callable[[RunSpec], Result] = run_one) -> list[Result]:
    """The runs on a Dask distributed cluster (a scheduler address, or a ``Client``). Each run
    is one task; a task whose worker dies is rescheduled by Dask (up to its
    ``distributed.scheduler.allowed-failures``), one that raises is retried ``retries`` times."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futures = client.map(fn, specs, pure=False, retries=retries, key=[f"run-{s.campaign}-{s.index}"
                                                                              for s in specs])
        index = {f.key: s.index for f, s in zip(futures, specs)}
        results: dict[int, Result] = {}
        try:
            for fut in dask_completed(futures):
                results[index[fut.key]] = fut.result()
                if progress:
                    progress.tick(results[index[fut.key]][0])
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        if client is not scheduler:
            client.close()
    return [results[s.index] for s in specs]


def local_cluster(workers: int) -> Any:
    """A Dask ``LocalCluster`` of ``workers`` single-threaded worker processes, as a campaign wants
    them. The workers' statistical profiler is off: it samples every thread's stack every 10 ms
    for the dashboard (which is off too), and beside a lockstep run that never waits it cost
    ~10 % of each run's CPU (measured: 10 TQ-12 three-burn runs on 2 workers, the tasks' CPU
    summed 52.6 s with it, 49.9 s without, 49.5 s on the process pool)."""
    import dask
    from distributed import LocalCluster

    # a deep copy the nannies keep: a worker restarted after a crash gets it too (a temporary
    # dask.config.set would be undone under the nanny's shallow copy by the time it restarts one)
    config = dask.config.merge(dask.config.config, {"distributed": {"worker": {"profile": {"enabled": False}}}})
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        config=config)


def write_results(results: Iterable[Result], out: Path) -> tuple[Path, Path]:
    """The runs and burns datasets under ``out`` (a campaign run again replaces its partitions)."""
    rows: list[dict[str, Any]] = []
    burns: list[dict[str, Any]] = []
    for row, bs in results:
        rows.append(row)
        burns += bs
    return _dataset(rows, out / "runs"), _dataset(burns, out / "burns")


def _dataset(rows: list[dict[str, Any]], where: Path) -> Path:
    import pyarrow as pa
    import pyarrow.dataset as ds

    keys = list(dict.fromkeys(k for r in rows for k in r))  # the union: sequences differ in redlines
    table = pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in rows]) if rows else pa.table({})
    if rows:
        ds.write_dataset(table, where, format="parquet", partitioning=["campaign", "sequence"],
                         partitioning_flavor="hive", existing_data_behavior="delete_matching",
                         basename_template="part-{i}.parquet")
    return where


def read_results(where: Path, campaign: str | None = None) -> Any:
    """A dataset written here, as a pyarrow Table (rows in run order)."""
    import pyarrow.dataset as ds

    table = ds.dataset(where, format="parquet", partitioning="hive").to_table(
        filter=(ds.field("campaign") == campaign) if campaign else None)
    order = [("run", "ascending")] + ([("burn", "ascending")] if "burn" in table.column_names else [])
    return table.sort_by(order)

