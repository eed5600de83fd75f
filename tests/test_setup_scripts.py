"""./run.sh and ./test.sh on a fresh Debian machine: they install the Debian packages the console,
the default stand and the tests need (one shared list, .ci/debs.sh), as root or with sudo, or
name the missing ones with the exact apt-get command and stop with a non-zero exit.

The machine is faked, not changed: each test runs a copy of the scripts with `dpkg`, `id`,
`sudo` and `apt-get` stand-ins first on PATH (they record what they were asked) and a stand-in
.venv whose `hil` only says how it was started. The real fresh-machine run is the lead's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

FAKES = {
    # dpkg -s NAME: installed when NAME is in $FAKE_INSTALLED
    "dpkg": 'case " $FAKE_INSTALLED " in *" $2 "*) exit 0;; esac; exit 1',
    "id": 'echo "$FAKE_UID"',
    # sudo -n true answers $FAKE_SUDO (0: allowed without a password); anything else is run
    "sudo": 'echo "sudo $*" >> "$FAKE_LOG"; if [ "$1" = "-n" ]; then exit "$FAKE_SUDO"; fi; exec "$@"',
    "apt-get": 'echo "apt-get $*" >> "$FAKE_LOG"',
}
VENV = {"python": "exit 0", "ruff": "exit 0", "mypy": "exit 0", "hil": 'echo "hil $*" >> "$FAKE_LOG"'}

QT_XCB = ("libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1")


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def debs(name: str) -> list[str]:
    """A list from .ci/debs.sh, read by bash itself."""
    out = subprocess.run(["bash", "-c", f'. .ci/debs.sh; echo "${{{name}[@]}}"'], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return out.split()


@pytest.fixture
def machine(tmp_path):
    """A copy of the scripts on a faked Debian machine; returns run(script, **env) -> (rc, stderr, log)."""
    work = tmp_path / "repo"
    (work / ".ci").mkdir(parents=True)
    for f in ("run.sh", "test.sh", ".ci/debs.sh"):
        shutil.copy2(ROOT / f, work / f)
    (work / ".venv" / "bin").mkdir(parents=True)
    for name, body in VENV.items():
        _script(work / ".venv" / "bin" / name, body)
    fake = tmp_path / "bin"
    fake.mkdir()
    for name, body in FAKES.items():
        _script(fake / name, body)
    log = tmp_path / "log"

    def run(script: str, installed: tuple[str, ...] = (), uid: int = 1000, sudo: int = 1,
            display: bool = True) -> tuple[int, str, list[str]]:
        log.write_text("")
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
        env.update(PATH=f"{fake}:{env['PATH']}", FAKE_INSTALLED=" ".join(installed), FAKE_UID=str(uid),
                   FAKE_SUDO=str(sudo), FAKE_LOG=str(log))
        if display:
            env["DISPLAY"] = ":99"
        p = subprocess.run(["bash", str(work / script)], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        return p.returncode, p.stderr, log.read_text().splitlines()

    return run


def test_one_package_list_is_shared_by_run_sh_and_test_sh() -> None:
    stand, console, tests = debs("DEBS_STAND"), debs("DEBS_CONSOLE"), debs("DEBS_TEST")
    assert stand == ["python3-venv"] and set(QT_XCB) <= set(console) and "mbpoll" in tests
    for script in ("run.sh", "test.sh"):
        text = (ROOT / script).read_text()
        assert ". .ci/debs.sh" in text and "need_debs" in text
        assert not any(d in text for d in (*console, "mbpoll")), f"{script} lists packages of its own"


def test_run_sh_without_root_names_every_missing_package_and_the_command(machine) -> None:
    """The fresh machine of issue 22: libxcb-cursor0 installed, libxcb-icccm4 and -keysyms1 and
    python3-venv not; no root, no sudo. run.sh stops before anything else, naming them all."""
    rc, err, log = machine("run.sh", installed=("libxcb-cursor0",))
    missing = [d for d in debs("DEBS_STAND") + debs("DEBS_CONSOLE") if d != "libxcb-cursor0"]
    assert rc == 1
    assert f"run.sh: these Debian packages are missing: {' '.join(missing)}" in err
    assert f"    sudo apt-get install -y {' '.join(missing)}" in err.splitlines()
    assert "libxcb-icccm4" in missing and "libxcb-keysyms1" in missing and "python3-venv" in missing
    assert not any(line.startswith(("apt-get", "hil")) for line in log)  # nothing installed, nothing started


def test_run_sh_as_root_installs_what_is_missing_then_opens_the_console(machine) -> None:
    rc, err, log = machine("run.sh", installed=("libxcb-cursor0", "python3-venv"), uid=0)
    assert rc == 0, err
    installs = [line for line in log if line.startswith("apt-get install")]
    assert len(installs) == 1 and "libxcb-icccm4" in installs[0] and "libxcb-keysyms1" in installs[0]
    assert "libxcb-cursor0" not in installs[0] and "python3-venv" not in installs[0]
    assert log[-1] == "hil gui --sequence configs/sequences/tq12_three_burn.toml"


def test_run_sh_uses_sudo_when_it_may(machine) -> None:
    rc, err, log = machine("run.sh", uid=1000, sudo=0)
    assert rc == 0, err
    assert any(line.startswith("sudo apt-get install -y -qq python3-venv libgl1") for line in log), log


def test_run_sh_headless_needs_no_qt_libraries(machine) -> None:
    """Without a display the console is not opened (hil gui runs the three-burn sequence
    headless), so only the stand's packages are required."""
    rc, err, log = machine("run.sh", installed=tuple(debs("DEBS_STAND")), display=False)
    assert rc == 0, err
    assert not any(line.startswith(("apt-get", "sudo")) for line in log)
    assert log == ["hil gui --sequence configs/sequences/tq12_three_burn.toml"]


def test_test_sh_installs_the_console_and_test_packages_too(machine) -> None:
    rc, err, log = machine("test.sh", uid=0)
    assert rc == 0, err
    install = next(line for line in log if line.startswith("apt-get install"))
    for d in ("python3-venv", "mbpoll", "xvfb", *QT_XCB):
        assert f" {d}" in install
    rc, err, _ = machine("test.sh", uid=1000)
    assert rc == 1 and "test.sh: these Debian packages are missing" in err
