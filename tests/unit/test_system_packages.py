"""`make system-packages` (scripts/system-packages.sh) with stand-ins for dpkg-query, id and apt-get.

dpkg-query answers as `dpkg-query -W -f='${Status}' PKG` does (dpkg-query(1)): "install ok installed"
for an installed package, exit 1 and nothing for an unknown one.
"""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "system-packages.sh"


def stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def run(tmp_path: Path, uid: int, installed: set[str], *packages: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    known = " ".join(sorted(installed))
    answer = 'printf "install ok installed"; exit 0'
    # The script asks `dpkg-query -W -f='${Status}' PKG`: the package is the third argument.
    stub(bin_dir, "dpkg-query", f'for p in {known}; do [ "$p" = "$3" ] && {{ {answer}; }}; done\nexit 1')
    stub(bin_dir, "id", f"echo {uid}")
    stub(bin_dir, "apt-get", f'echo "$*" >> {tmp_path / "apt.log"}')
    return subprocess.run(
        ["bash", str(SCRIPT), *packages],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        timeout=30,
        check=False,
    )


def apt_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "apt.log"
    return log.read_text().splitlines() if log.exists() else []


def test_as_another_user_it_prints_the_one_apt_get_line_and_stops(tmp_path: Path) -> None:
    done = run(tmp_path, 1000, {"make"}, "make", "chromium", "nix-bin")
    assert done.returncode == 1
    assert done.stderr == "make: missing Debian packages; run: sudo apt-get install -y chromium nix-bin\n"
    assert apt_calls(tmp_path) == []


def test_as_root_it_installs_only_what_is_missing(tmp_path: Path) -> None:
    done = run(tmp_path, 0, {"make"}, "make", "chromium")
    assert done.returncode == 0, done.stderr
    assert apt_calls(tmp_path) == ["update -qq", "install -y -qq chromium"]


@pytest.mark.parametrize("uid", [0, 1000])
def test_with_everything_installed_it_does_nothing(tmp_path: Path, uid: int) -> None:
    done = run(tmp_path, uid, {"make", "ripgrep"}, "make", "ripgrep")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert apt_calls(tmp_path) == []
