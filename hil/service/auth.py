"""CURVE authentication and encryption for the controller's command and telemetry sockets.

Why: the command service can open propellant valves. On loopback only local users can reach it;
a bind on any other address would let anyone on the network arm and fire the stand, so such a
bind is refused unless the sockets are CURVE servers that accept only clients whose public key
the stand's operator put in ``authorized/``. Unauthenticated peers fail the handshake and get
nothing — no reply, no telemetry (ZeroMQ's ZAP handler, run by pyzmq's ThreadAuthenticator;
without a handler libzmq would accept any key).

Key directory made by ``hil keys DIR`` (ZeroMQ certificate files, readable by zmq.auth)::

    DIR/server.key            server public key   (copy to every console machine)
    DIR/server.key_secret     server secret key   (stays on the controller machine, mode 600)
    DIR/<name>.key            client public key
    DIR/<name>.key_secret     client secret key   (copy to that client only, mode 600)
    DIR/authorized/<name>.key public keys the server accepts (delete one to revoke that client)
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from hil.errors import ConfigError

SERVER = "server"
AUTHORIZED = "authorized"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class ServerKeys:
    """What the controller needs: its key pair and the directory of accepted client keys."""

    public: bytes
    secret: bytes
    authorized: Path


@dataclass(frozen=True)
class ClientKeys:
    """What a client needs: its key pair and the server's public key."""

    public: bytes
    secret: bytes
    server_public: bytes


def is_loopback(endpoint: str) -> bool:
    """True for tcp:// endpoints on a loopback address, and for ipc:// and inproc://."""
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    if not endpoint.startswith("tcp://"):
        raise ConfigError(f"unsupported endpoint {endpoint!r} (tcp://HOST:PORT, ipc:// or inproc://)")
    host = endpoint[6:].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # an interface name or host name: treat as network-facing


def check_bind(endpoint: str, keys: ServerKeys | None) -> None:
    """Refuse a network-facing bind without authentication."""
    if keys is None and not is_loopback(endpoint):
        raise ConfigError(f"refusing to bind {endpoint} without authentication: a network-facing command "
                          f"service needs CURVE keys (make them with `hil keys DIR`, then pass --keys DIR)")


def generate(key_dir: str | Path, clients: tuple[str, ...] = ("console",)) -> list[Path]:
    """Create the server key pair (once) and one key pair per client, authorising each client.
    Never overwrites a key: a new key for an existing name is refused (revoke by deleting it)."""
    d = Path(key_dir)
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    (d / AUTHORIZED).mkdir(exist_ok=True)
    made: list[Path] = []
    names = [SERVER] if not (d / f"{SERVER}.key_secret").exists() else []
    for name in clients:
        if not _NAME.match(name) or name == SERVER:
            raise ConfigError(f"client name {name!r}: letters, digits, '_', '.', '-' only, and not {SERVER!r}")
        if (d / f"{name}.key_secret").exists():
            raise ConfigError(f"{d / (name + '.key_secret')}: a key for client {name!r} exists already "
                              f"(delete it and {AUTHORIZED}/{name}.key to replace it)")
        names.append(name)
    for name in names:
        public, secret = zmq.auth.create_certificates(d, name)
        os.chmod(secret, 0o600)
        made += [Path(public), Path(secret)]
        if name != SERVER:
            shutil.copy(public, d / AUTHORIZED / f"{name}.key")
            made.append(d / AUTHORIZED / f"{name}.key")
    return made


def _load(path: Path, secret: bool) -> tuple[bytes, bytes | None]:
    if not path.is_file():
        raise ConfigError(f"{path}: key file not found (make keys with `hil keys {path.parent}`)")
    try:
        public, sec = zmq.auth.load_certificate(path)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"{path}: not a ZeroMQ certificate: {exc}") from exc
    if secret and not sec:
        raise ConfigError(f"{path}: holds no secret key")
    return public, sec


def load_server_keys(key_dir: str | Path) -> ServerKeys:
    """The controller's keys; at least one authorised client is required (else nobody could
    connect and the operator would be locked out without knowing why)."""
    d = Path(key_dir)
    public, secret = _load(d / f"{SERVER}.key_secret", secret=True)
    auth = d / AUTHORIZED
    if not auth.is_dir() or not any(auth.glob("*.key")):
        raise ConfigError(f"{auth}: no authorised client keys (make one with `hil keys {d} --client NAME`)")
    for f in auth.glob("*.key"):
        _load(f, secret=False)  # a corrupt file is an error now, not a silent refusal later
    assert secret is not None
    return ServerKeys(public, secret, auth)


def load_client_keys(key_dir: str | Path, name: str = "console") -> ClientKeys:
    """A client's keys: ``DIR/<name>.key_secret`` and the server's public ``DIR/server.key``."""
    d = Path(key_dir)
    public, secret = _load(d / f"{name}.key_secret", secret=True)
    server_public, _ = _load(d / f"{SERVER}.key", secret=False)
    assert secret is not None
    return ClientKeys(public, secret, server_public)


class ServerAuth:
    """The ZAP handler thread plus the server-side socket options. One per service."""

    def __init__(self, ctx: zmq.Context, keys: ServerKeys) -> None:
        self.keys = keys
        self._auth = ThreadAuthenticator(ctx)
        self._auth.start()
        self._auth.configure_curve(domain="*", location=str(keys.authorized))
        self._names: dict[str, str] = {}

    def secure(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE server (before it binds)."""
        sock.curve_secretkey = self.keys.secret
        sock.curve_publickey = self.keys.public
        sock.curve_server = True

    def name_of(self, user_id: str | None) -> str | None:
        """The key name (``authorized/<name>.key``) of an authenticated peer, from the User-Id
        the ZAP handler gave its messages (the client's public key, z85): what the run's events
        record as who answered a prompt or held the count — a name a client cannot choose."""
        if not user_id:
            return None
        if user_id not in self._names:
            for f in self.keys.authorized.glob("*.key"):  # a key added since start-up
                public, _ = _load(f, secret=False)
                self._names[public.decode("ascii")] = f.stem
        return self._names.get(user_id, f"key {user_id[:8]}…")

    def stop(self) -> None:
        """Stop the handler thread."""
        self._auth.stop()


def secure_client(sock: zmq.Socket, keys: ClientKeys | None) -> None:
    """Make ``sock`` a CURVE client of the server (before it connects); no-op without keys."""
    if keys is None:
        return
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.curve_serverkey = keys.server_public
