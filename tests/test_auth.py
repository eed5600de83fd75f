"""The command path locked down: a network-facing bind needs CURVE keys (`hil keys`), and with
keys only authorised clients get replies or telemetry. Binds stay on 127.0.0.1 here (tests
never listen on the network); authentication is the same on every interface."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, TQ12

from hil.children import spawn
from hil.errors import ConfigError, ControllerTimeout
from hil.service.auth import ServerKeys, check_bind, generate, load_client_keys, load_server_keys
from hil.service.client import ControllerClient

pytestmark = pytest.mark.timeout(120)


def hil(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hil.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def test_hil_keys_makes_private_keys_and_never_overwrites(tmp_path) -> None:
    d = tmp_path / "keys"
    r = hil("keys", str(d), "--client", "console", "--client", "ops-laptop")
    assert r.returncode == 0, r.stderr
    for name in ("server", "console", "ops-laptop"):
        assert (d / f"{name}.key").is_file()
        assert stat.S_IMODE((d / f"{name}.key_secret").stat().st_mode) == 0o600
    assert sorted(p.name for p in (d / "authorized").iterdir()) == ["console.key", "ops-laptop.key"]
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    server_before = (d / "server.key_secret").read_bytes()
    again = hil("keys", str(d), "--client", "console")
    assert again.returncode == 1 and "exists already" in again.stderr
    assert hil("keys", str(d), "--client", "../evil").returncode == 1
    assert hil("keys", str(d), "--client", "bench").returncode == 0  # a new client keeps the server's key
    assert (d / "server.key_secret").read_bytes() == server_before
    keys = load_server_keys(d)
    assert len(list(keys.authorized.glob("*.key"))) == 3


def test_key_loading_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="server.key_secret: key file not found"):
        load_server_keys(tmp_path)
    generate(tmp_path, ("console",))
    (tmp_path / "authorized" / "console.key").unlink()
    with pytest.raises(ConfigError, match="no authorised client keys"):
        load_server_keys(tmp_path)
    (tmp_path / "authorized" / "junk.key").write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="junk.key"):
        load_server_keys(tmp_path)
    (tmp_path / "console.key_secret").write_text("curve\n    public-key = \"short\"\n")
    with pytest.raises(ConfigError, match="console.key_secret"):
        load_client_keys(tmp_path, "console")


@pytest.mark.parametrize("endpoint", ["tcp://0.0.0.0:5556", "tcp://10.1.2.3:5556", "tcp://eth0:5556"])
def test_network_bind_needs_keys(endpoint, tmp_path) -> None:
    with pytest.raises(ConfigError, match="without authentication"):
        check_bind(endpoint, None)
    check_bind(endpoint, ServerKeys(b"p", b"s", tmp_path))  # with keys the same bind is allowed


def test_hil_serve_refuses_a_network_bind_without_keys_before_starting_anything(tmp_path) -> None:
    r = hil("serve", "--stand", str(TQ12), "--sim", "tcp", "--rep", "tcp://0.0.0.0:5556",
            "--out", str(tmp_path / "s"))
    assert r.returncode == 1 and "refusing to bind tcp://0.0.0.0:5556 without authentication" in r.stderr
    assert not (tmp_path / "s").exists()  # nothing started, nothing recorded


@pytest.fixture
def served_with_keys(tmp_path):
    keys = tmp_path / "keys"
    generate(keys, ("console",))
    child = spawn(["serve", "--stand", str(TQ12), "--sim", "tcp", "--rep", "tcp://127.0.0.1:0", "--pub",
                   "tcp://127.0.0.1:0", "--keys", str(keys), "--out", str(tmp_path / "session")], cwd=ROOT)
    assert child.ready["authenticated"] is True
    yield keys, child.ready["rep"], child.ready["pub"], child.banner
    child.stop(signal.SIGTERM)


@pytest.mark.slow
def test_only_authorised_clients_get_answers_or_telemetry(served_with_keys, tmp_path) -> None:
    keys, rep, pub, banner = served_with_keys
    assert "CURVE" in banner
    good = ControllerClient(rep, pub, timeout_s=5, keys=load_client_keys(keys, "console"))
    assert good.status()["ok"]
    good.subscribe()
    kinds = set()
    for _ in range(50):
        msg = good.receive(timeout_s=2.0)
        assert msg is not None, "an authorised client gets telemetry"
        kinds.add(msg[0])
        if {"tlm", "status"} <= kinds:
            break
    assert {"tlm", "status"} <= kinds

    # a client with a well-formed key pair the controller has never seen, and one without CURVE
    stranger_dir = tmp_path / "stranger"
    generate(stranger_dir, ("console",))
    (stranger_dir / "server.key").write_bytes((keys / "server.key").read_bytes())  # knows the server's key
    stranger_keys = load_client_keys(stranger_dir, "console")
    for intruder in (ControllerClient(rep, pub, timeout_s=1.0, keys=stranger_keys),
                     ControllerClient(rep, pub, timeout_s=1.0)):
        with pytest.raises(ControllerTimeout):
            intruder.request("abort", reason="intruder")
        with pytest.raises(ControllerTimeout):
            intruder.request("arm")
        intruder.subscribe()
        assert intruder.receive(timeout_s=1.0) is None  # no telemetry either
        intruder.close()
    st = good.status()  # the intruders' commands never reached the controller
    assert st["ok"] and st["state"] == "SAFE" and not st.get("abort_reason")
    good.close()


def test_the_simulator_binds_loopback_by_default() -> None:
    """`hil sim` with no host (only a port) listens on 127.0.0.1, as does a stand without one."""
    child = spawn(["sim", "--stand", str(TQ12), "--tcp", ":0"], cwd=ROOT)
    try:
        assert child.ready["tcp"].startswith("127.0.0.1:")
        port = child.port
        listening = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
        ours = [f[1] for f in listening if f[3] == "0A" and int(f[1].split(":")[1], 16) == port]
        assert ours == [f"0100007F:{port:04X}"]  # 127.0.0.1 in /proc's little-endian hex, LISTEN state
    finally:
        child.stop(signal.SIGTERM)


@pytest.mark.slow
def test_who_answered_is_the_authenticated_key_name_not_the_name_a_client_gives(served_with_keys) -> None:
    """With CURVE keys the run records the key name the controller authenticated: a client
    calling itself something else changes nothing."""
    import json
    import time

    keys, rep, pub, _ = served_with_keys
    c = ControllerClient(rep, pub, timeout_s=5, keys=load_client_keys(keys, "console"), name="someone else")
    deadline = time.monotonic() + 30
    while not c.load(str(ROOT / "configs" / "sequences" / "tq12_three_burn_gonogo.toml"))["ok"]:
        assert time.monotonic() < deadline
    while not c.arm()["ok"]:  # sensors warming up
        assert time.monotonic() < deadline
    assert c.start()["ok"]
    while (st := c.status())["prompt"] is None:
        assert time.monotonic() < deadline
    assert c.hold()["ok"] and c.status()["held_by"] == "console"
    assert c.resume()["ok"]
    assert c.answer(st["prompt"]["index"], "abort")["ok"]
    while c.status()["state"] != "SAFE":
        assert time.monotonic() < deadline
    from hil.sequence import load_sequence
    from hil.stand import load_stand

    first_prompt = load_sequence(ROOT / "configs" / "sequences" / "tq12_three_burn_gonogo.toml",
                                 load_stand(TQ12)).prompts[0].line
    assert f"(line {first_prompt}, console)" in c.status()["abort_reason"]
    c.close()
    events = [json.loads(line) for line in (keys.parent / "session" / "events.jsonl").read_text().splitlines()]
    assert [e["client"] for e in events if e["kind"] in ("hold", "resume", "prompt_answered")] == ["console"] * 3
