"""The controller as a service: `hil serve` in its own process, a client over ZeroMQ sending
commands (each answered with an ack or a refusal and its reason) and receiving telemetry."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, TQ12

from hil.children import spawn
from hil.errors import ConfigError, ControllerTimeout
from hil.service.auth import check_bind
from hil.service.client import ControllerClient

pytestmark = pytest.mark.timeout(120)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    child = spawn(["serve", "--stand", str(TQ12), "--sim", "tcp", "--rep", "tcp://127.0.0.1:0",
                   "--pub", "tcp://127.0.0.1:0", "--out", str(tmp_path / "session")], cwd=ROOT)
    proc = child.proc
    client = ControllerClient(child.ready["rep"], child.ready["pub"], timeout_s=5)
    yield client, proc, tmp_path / "session"
    client.close()
    child.stop(signal.SIGTERM, timeout=30)  # whether a test killed it or not; and its pipes closed


def wait_state(client, state, timeout=30.0):
    deadline = time.monotonic() + timeout
    st = None
    while time.monotonic() < deadline:
        st = client.status()
        if st["state"] == state:
            return st
    raise AssertionError(f"never reached {state}; last {st}")


@pytest.mark.slow
def test_commands_telemetry_refusals_and_abort(served) -> None:
    client, proc, session = served
    meta = client.request("meta")
    assert meta["ok"] and meta["columns"][:3] == ["time", "state", "step"] and "pc" in meta["columns"]
    # refusals come back with their reason
    r = client.start()
    assert not r["ok"] and "no sequence loaded" in r["refused"]
    r = client.load(str(ROOT / "configs/sequences/lab_relight.toml"))
    assert not r["ok"] and "written for stand 'sim-lab'" in " ".join(r["errors"])
    assert client.set_output("ox_main", 40)["ok"]
    assert client.load(str(ROOT / "configs/sequences/tq12_hotfire_100.toml"))["ok"]
    r = client.arm()
    assert not r["ok"] and "ox_main is commanded open" in r["refused"]
    assert client.set_output("ox_main", 0)["ok"]
    wait_state(client, "SAFE")
    assert client.arm()["ok"]
    r = client.set_output("purge", 1)
    assert not r["ok"] and "only accepted in SAFE" in r["refused"]
    assert client.start()["ok"]
    # telemetry flows while it burns
    client.subscribe()
    pcs = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not pcs or max(pcs) < 9.0):
        msg = client.receive(1.0)
        if msg and msg[0] == "tlm":
            rows = msg[1].rows
            assert rows.shape[1] == len(meta["columns"])
            pcs.extend(rows[:, meta["columns"].index("pc")].tolist())
    assert max(pcs) > 9.0, "no burn seen in telemetry"
    # ABORT during the burn: accepted at once, the stand ends SAFE with the reason recorded
    r = client.abort("test: operator abort during the burn")
    assert r["ok"]
    st = wait_state(client, "SAFE")
    assert st["abort_reason"] == "test: operator abort during the burn"
    client.request("stop")
    proc.wait(timeout=60)
    events = [json.loads(x) for x in (session / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "abort" and e["reason"].startswith("test: operator abort") for e in events)
    assert any(e["kind"] == "refused" for e in events)
    from hil.record.recorder import read_run

    data = read_run(session).table
    states = set(data.column("state").to_pylist())
    assert {"SAFE", "RUNNING", "ABORTING"} <= states  # ARMED may last less than a cycle: arm and start can
    assert any(e["kind"] == "state" and e["to"] == "ARMED" for e in events)  # be served in the same one
    assert np.nanmax(data.column("pc").to_numpy()) > 9.0


def test_a_request_with_an_argument_out_of_any_range_is_refused_and_the_service_goes_on(served) -> None:
    """A client's number that no int holds (JSON's 1e999 reads as inf: int(inf) raises
    OverflowError, which the bad-request refusals did not list) once escaped the command
    protocol, stopped the service's loop and left the valves as last commanded. Now it is a
    refusal naming the request, and the loop goes on answering (ABORT included)."""
    client, proc, _ = served
    for cmd, args in (("loop_stats", {"last": float("inf")}), ("answer", {"index": float("inf"), "answer": "go"}),
                      ("checkout", {"kind": "zero", "seconds": float("nan")})):
        r = client.request(cmd, **args)
        assert not r["ok"] and r["refused"], (cmd, r)
    assert client.request("ping")["ok"] and proc.poll() is None
    assert client.abort("test: still answering")["ok"]


def test_client_survives_a_missing_controller() -> None:
    client = ControllerClient(f"tcp://127.0.0.1:{free_port()}", timeout_s=0.2)
    with pytest.raises(ControllerTimeout):
        client.status()
    with pytest.raises(ControllerTimeout):  # the REQ socket was rebuilt, not stuck
        client.status()
    client.close()


@pytest.mark.parametrize("endpoint, ok", [("tcp://127.0.0.1:5556", True), ("tcp://localhost:1", True),
                                          ("tcp://0.0.0.0:5556", False), ("tcp://192.168.1.10:5556", False),
                                          ("tcp://[::1]:5556", True), ("ipc:///tmp/x", True)])
def test_service_binds_loopback_only_without_keys(endpoint, ok) -> None:
    if ok:
        check_bind(endpoint, None)
    else:
        with pytest.raises(ConfigError, match="without authentication.*hil keys"):
            check_bind(endpoint, None)


@pytest.mark.slow
def test_lost_client_during_a_burn_aborts_the_run(served) -> None:
    client, proc, session = served
    observer = ControllerClient(client.rep_endpoint, client.pub_endpoint, timeout_s=5)
    assert client.load(str(ROOT / "configs/sequences/tq12_hotfire_100.toml"))["ok"]
    wait_state(client, "SAFE")
    assert client.arm()["ok"]
    assert client.start(watchdog_s=1.0)["ok"]
    # the starting client falls silent (a console killed with SIGKILL); others may still talk
    deadline = time.monotonic() + 20
    st = {}
    while time.monotonic() < deadline:
        st = observer.status()  # a different client: does not count for the owner
        if st["abort_reason"]:
            break
    assert st["abort_reason"].startswith("lost client during a burn"), st
    wait_state(observer, "SAFE")
    observer.close()


@pytest.mark.slow
def test_the_console_killed_mid_burn_aborts_the_run(served) -> None:
    """The stand's policy holds when the console dies without a word: SIGKILL the real
    `hil gui` process during a run; the controller aborts and safes."""
    import os
    import signal

    client, proc, session = served
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    gui = subprocess.Popen([sys.executable, "-m", "hil.cli", "gui", "--connect", client.rep_endpoint,
                            client.pub_endpoint, "--sequence", str(ROOT / "configs/sequences/tq12_hotfire_100.toml"),
                            "--autopilot"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_state(client, "RUNNING", timeout=60)
        os.kill(gui.pid, signal.SIGKILL)
        gui.wait()
        deadline = time.monotonic() + 20
        st = {}
        while time.monotonic() < deadline:
            st = client.status()
            if st["abort_reason"]:
                break
        assert st["abort_reason"].startswith("lost client during a burn"), st
        wait_state(client, "SAFE")
    finally:
        if gui.poll() is None:
            gui.kill()


def test_serve_runs_its_loop_real_time_when_asked(tmp_path) -> None:
    """hil serve --rt-priority: the loop thread under SCHED_FIFO, its simulator 10 below, the
    stand controlled; where the machine does not allow it, a clear refusal and nothing left
    running."""
    import os

    from hil.children import ChildStartError

    try:
        child = spawn(["serve", "--stand", str(TQ12), "--sim", "tcp", "--rep", "tcp://127.0.0.1:0",
                       "--pub", "tcp://127.0.0.1:0", "--out", str(tmp_path / "s"), "--rt-priority", "50"], cwd=ROOT)
    except ChildStartError as exc:
        assert "cannot use real-time priority 50" in str(exc)
        return
    client = ControllerClient(child.ready["rep"], child.ready["pub"], timeout_s=5)
    try:
        assert os.sched_getscheduler(child.proc.pid) == os.SCHED_FIFO
        assert os.sched_getparam(child.proc.pid).sched_priority == 50
        sim = [int(p) for p in os.listdir("/proc") if p.isdigit()
               and b"--rt-priority\x0040" in Path(f"/proc/{p}/cmdline").read_bytes()
               and str(TQ12).encode() in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert sim and os.sched_getscheduler(sim[0]) == os.SCHED_FIFO
        wait_state(client, "SAFE")
        deadline = time.monotonic() + 10
        while client.status()["deadlines_due"] < 500:  # the loop cycling under SCHED_FIFO
            assert time.monotonic() < deadline
    finally:
        client.close()
        child.stop(signal.SIGTERM, timeout=30)  # and its pipes closed


@pytest.mark.slow
def test_each_run_gets_its_own_directory_beside_the_session_log(served) -> None:
    """Two runs in one service session: two run directories, each with only its own rows (ARM
    to SAFE), its events, the sequence and stand as run with their SHA-256, and a summary with
    its outcome and burns; the session log keeps everything."""
    from hil.record.recorder import read_events, read_run, read_summary, sha256_file

    client, proc, session = served
    seq = ROOT / "configs" / "sequences" / "tq12_abort_demo.toml"
    for _ in range(2):
        deadline = time.monotonic() + 30
        while not client.load(str(seq))["ok"]:
            assert time.monotonic() < deadline
        while not client.arm()["ok"]:
            assert time.monotonic() < deadline
        run_dir = client.status()["run_dir"]
        assert run_dir
        assert client.start()["ok"]
        wait_state(client, "SAFE", timeout=60)
    proc.terminate()
    proc.wait(timeout=30)
    runs = sorted((p for p in session.parent.iterdir() if p != session), key=lambda p: p.stat().st_mtime)
    assert len(runs) == 2 and str(runs[-1]) == run_dir and all("_tq12_abort_demo" in p.name for p in runs)
    total = 0
    for rd in runs:
        data = read_run(rd).table
        states = data.column("state").to_pylist()
        # the run opens on ARM; its first row may already be RUNNING when ARM and START were served
        # in the same cycle (the service answers up to 8 waiting requests per cycle)
        assert states[0] in ("ARMED", "RUNNING") and states[-1] == "SAFE" and "RUNNING" in states
        cycles = data.column("cycle").to_pylist()
        assert cycles == list(range(cycles[0], cycles[0] + len(cycles)))  # every cycle of the run, no gap
        ev = read_events(rd)
        assert ev[0]["kind"] == "state" and ev[0]["to"] == "ARMED" and any(e["kind"] == "redline" for e in ev)
        s = read_summary(rd)
        assert s["outcome"] == "aborted" and "redline demo_pc_cap" in s["abort_reason"]
        assert s["samples"] == len(cycles) and s["loop"]["cycles"] >= len(cycles) - 1 and len(s["burns"]) == 1
        assert s["sequence"]["sha256"] == sha256_file(seq) == sha256_file(rd / s["sequence"]["copy"])
        assert s["stand"]["sha256"] == sha256_file(TQ12)
        total += len(cycles)
    from hil.record.report import report

    html = report(runs[0]).read_text()  # hil report reads a service run like any other
    assert "redline demo_pc_cap" in html and "tq12_abort_demo" in html
    assert read_run(session).table.num_rows > total  # the session log: before, between and after too


def test_one_client_commands_the_others_watch_and_any_may_abort(served) -> None:
    """Command authority with two clients: the first to command holds it; the other's ARM is
    refused with the reason, its ABORT is accepted; hand-over is explicit and logged."""
    import json

    lead, _, session = served
    lead.name = "test conductor"
    viewer = ControllerClient(lead.rep_endpoint, lead.pub_endpoint, timeout_s=5, name="propulsion lead")
    try:
        deadline = time.monotonic() + 30
        while not lead.load(str(ROOT / "configs" / "sequences" / "tq12_hotfire_100.toml"))["ok"]:
            assert time.monotonic() < deadline
        st = viewer.status()
        assert st["authority"]["holder"] == "test conductor"
        r = viewer.arm()
        assert not r["ok"] and r["refused"].startswith("command authority is held by test conductor")
        r = viewer.checkout("valves")  # a checkout moves valves: the holder's alone
        assert not r["ok"] and r["refused"].startswith("command authority is held by test conductor")
        assert not viewer.take_authority()["ok"]  # the holder is alive: no take-over
        assert viewer.request_authority()["ok"]
        assert lead.status()["authority"]["requested_by"] == "propulsion lead"
        assert lead.hand_over()["ok"]
        assert viewer.status()["authority"]["holder"] == "propulsion lead"
        r = lead.arm()
        assert not r["ok"] and "held by propulsion lead" in r["refused"]
        while not viewer.arm()["ok"]:  # sensors warming up
            assert time.monotonic() < deadline
        r = lead.abort(reason="abort from the other console")  # ABORT from anyone, always
        assert r["ok"]
        wait_state(viewer, "SAFE")
        assert "abort from the other console" in (viewer.status()["abort_reason"] or "")
    finally:
        viewer.close()
    events = [json.loads(line) for line in (session / "events.jsonl").read_text().splitlines()]
    kinds = [(e["kind"], e.get("holder"), e.get("how", "")) for e in events if e["kind"].startswith("authority")]
    assert kinds[0] == ("authority", "test conductor", "first to command")
    assert ("authority_requested", "test conductor", "") in kinds
    assert ("authority", "propulsion lead", "handed over by test conductor") in kinds
    assert any(e["kind"] == "refused" and "held by test conductor" in e["reason"] for e in events)


def test_authority_can_be_taken_only_from_a_silent_holder_and_is_released_explicitly() -> None:
    """hil/controller/authority.py's rules on its own clock: a live holder keeps it; one silent for 10 s
    can be taken over (logged as such); only the holder releases or hands over."""
    from hil.controller.authority import SILENT_S, Authority
    from hil.errors import Refused

    events: list[tuple] = []
    auth = Authority(lambda t, kind, **f: events.append((t, kind, f)))
    auth.check(0.0, "a", "conductor", "arm")  # the first to command gets it
    auth.check(0.0, "b", "viewer", "status")  # watching needs nothing
    with pytest.raises(Refused, match="held by conductor"):
        auth.check(1.0, "b", "viewer", "start")
    auth.check(0.0, "b", "viewer", "abort")  # ABORT is not gated
    with pytest.raises(Refused, match="heard from"):
        auth.handle(SILENT_S - 1.0, "b", "viewer", "take_authority", {})
    with pytest.raises(Refused, match="only the holder"):
        auth.handle(2.0, "b", "viewer", "release_authority", {})
    auth.handle(SILENT_S + 0.5, "b", "viewer", "take_authority", {})  # conductor silent since t=0
    assert auth.status()["holder"] == "viewer" and "taken over from conductor" in events[-1][2]["how"]
    auth.handle(SILENT_S + 1.0, "b", "viewer", "release_authority", {})
    assert auth.status()["holder"] is None and events[-1][1] == "authority_released"
