"""The shipped unit systemd/news-monitor.service, checked the way CI gates it (reliability.md recipe 4.9):

* ``systemd-analyze verify`` prints nothing about the unit (it exits 0 even on a bad value, so the output is the check);
* ``systemd-analyze security --offline=true`` reports an overall exposure of at most 2.0 (1.1 on systemd 252).

``verify`` also checks that the ``ExecStart=``/``ExecStartPre=`` binaries exist and fails with "Command ... is not
executable" on a build machine without /opt/news-monitor, so the tests check a copy whose news-monitor path points
at an executable that exists here: this virtualenv's ``news-monitor`` script, else /bin/true. Nothing else is
rewritten. When ``systemd-analyze`` is missing it is installed from Debian's ``systemd`` package (as root with
apt-get, as .ci/run does), else the tests that need it are skipped saying why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "news-monitor.service"
SHIPPED_BIN = "/opt/news-monitor/.venv/bin/news-monitor"
THRESHOLD = 2.0
# systemd 252 (Debian 12): what a network poller cannot turn off, plus two 0.1 items judged not worth it
# (RootDirectory=: no image to run from; DeviceAllow= char-rtc:r comes with ProtectClock=yes;
# MemoryDenyWriteExecute= stays off because C extensions may need W+X memory, see systemd/README.md).
EXPECTED_OPEN_252 = {
    "PrivateNetwork=", "IPAddressDeny=", "RestrictAddressFamilies=~AF_(INET|INET6)", "RestrictAddressFamilies=~AF_UNIX",
    "RootDirectory=/RootImage=", "DeviceAllow=", "MemoryDenyWriteExecute=",
}


def _analyze() -> str:
    """The systemd-analyze binary, installing Debian's systemd package when it is missing and that is possible."""
    found = shutil.which("systemd-analyze")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("systemd-analyze is missing and cannot be installed here (needs root and apt-get): "
                    "apt-get install systemd")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "install", "-y", "-qq", "systemd"], ["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "systemd"]):
        subprocess.run(step, env=env, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
        found = shutil.which("systemd-analyze")
        if found:
            return found
    pytest.skip("systemd-analyze is missing and apt-get could not install Debian's systemd package "
                "(is the apt source reachable?)")


@pytest.fixture(scope="module")
def analyze() -> str:
    return _analyze()


def _exec_stand_in() -> str:
    venv_script = Path(sys.executable).parent / "news-monitor"
    return str(venv_script) if os.access(venv_script, os.X_OK) else "/bin/true"


def checkable_copy(directory: Path, *, credentials: bool = False, edit: tuple[str, str] | None = None) -> Path:
    """The unit under its own name in ``directory``, ExecStart's binary pointed at one that exists here.
    ``credentials`` uncomments the LoadCredential= examples; ``edit`` replaces one line (for the negative test)."""
    text = UNIT.read_text(encoding="utf-8")
    assert text.count(SHIPPED_BIN) == 2, "ExecStartPre= and ExecStart= should name the installed entry point"
    text = text.replace(SHIPPED_BIN, _exec_stand_in())
    if credentials:
        text = re.sub(r"(?m)^#(LoadCredential=)", r"\1", text)
    if edit is not None:
        assert edit[0] in text
        text = text.replace(edit[0], edit[1])
    path = directory / UNIT.name
    path.write_text(text, encoding="utf-8")
    return path


def verify(analyze: str, unit: Path) -> tuple[int, list[str]]:
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,  # noqa: S603
                          timeout=120, check=False, env={**os.environ, "SYSTEMD_LOG_COLOR": "0"})
    lines = (done.stdout + done.stderr).splitlines()
    # Only lines about our unit count; a CI container may log about its own units or the missing manager.
    return done.returncode, [line for line in lines if "news-monitor" in line]


def security(analyze: str, unit: Path) -> tuple[int, str]:
    done = subprocess.run([analyze, "security", "--offline=true", f"--threshold={int(THRESHOLD * 10)}",  # noqa: S603
                           "--no-pager", str(unit)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_COLORS": "0"})
    return done.returncode, done.stdout + done.stderr


def exposure(report: str) -> float:
    m = re.search(r"Overall exposure level for news-monitor\.service: (\d+\.\d+) ", report)
    assert m, report
    return float(m.group(1))


def open_items(report: str) -> set[str]:
    return {line.split()[1] for line in report.splitlines() if line.startswith("✗")}


def _sections(text: str) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            out[section] = []
            continue
        key, _, value = line.partition("=")
        out[section].append((key, value))
    return out


def test_unit_has_what_the_issue_asks_for() -> None:
    """Runs without systemd-analyze: the settings the daemon relies on are in the right sections."""
    units = _sections(UNIT.read_text(encoding="utf-8"))
    unit, service = dict(units["Unit"]), dict(units["Service"])
    assert unit["StartLimitIntervalSec"] and unit["StartLimitBurst"]  # in [Unit]: ignored in [Service] since 230
    expected = {"Type": "notify", "NotifyAccess": "main", "Restart": "on-failure", "DynamicUser": "yes",
                "StateDirectory": "news-monitor", "UMask": "0077", "ProtectSystem": "strict", "PrivateUsers": "yes",
                "CapabilityBoundingSet": "", "NoNewPrivileges": "yes"}
    assert {k: service.get(k) for k in expected} == expected
    assert service["WatchdogSec"] and service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    # Credentials are documented, commented out (a missing credential file would fail the start).
    commented = re.findall(r"(?m)^#LoadCredential=(\w+):/etc/news-monitor/credentials/(\w+)$",
                           UNIT.read_text(encoding="utf-8"))
    assert commented and all(cred_id == file for cred_id, file in commented), commented


@pytest.mark.parametrize("credentials", [False, True], ids=["shipped", "LoadCredential enabled"])
def test_verify_is_clean(analyze: str, tmp_path: Path, credentials: bool) -> None:
    rc, lines = verify(analyze, checkable_copy(tmp_path, credentials=credentials))
    assert (rc, lines) == (0, [])


def test_verify_output_is_what_catches_mistakes(analyze: str, tmp_path: Path) -> None:
    """systemd-analyze verify exits 0 on a bad value and only logs it: asserting on the output is what matters."""
    rc, lines = verify(analyze, checkable_copy(tmp_path, edit=("Restart=on-failure", "Restart=sometimes")))
    assert any("Failed to parse service restart specifier" in line and "sometimes" in line for line in lines), lines


def test_verify_needs_an_existing_exec_binary(analyze: str, tmp_path: Path) -> None:
    """Why the tests check a copy: the shipped path does not exist on a build machine."""
    if Path(SHIPPED_BIN).exists():
        pytest.skip(f"{SHIPPED_BIN} is installed here")
    shipped = tmp_path / UNIT.name
    shutil.copyfile(UNIT, shipped)
    rc, lines = verify(analyze, shipped)
    assert rc != 0 and any("is not executable" in line for line in lines), lines


def test_security_exposure_at_most_2(analyze: str, tmp_path: Path) -> None:
    rc, report = security(analyze, checkable_copy(tmp_path, credentials=True))
    level = exposure(report)
    assert level <= THRESHOLD, report
    assert rc == 0, report  # --threshold=20 makes systemd-analyze itself fail above 2.0
    version = subprocess.run([analyze, "--version"], capture_output=True, text=True, check=False).stdout  # noqa: S603
    if version.startswith("systemd 252 "):
        assert level == 1.1, report
        assert open_items(report) == EXPECTED_OPEN_252, report


def test_tmpfiles_snippet_creates_root_only_credentials_dir(tmp_path: Path) -> None:
    tmpfiles = shutil.which("systemd-tmpfiles")
    if tmpfiles is None:
        pytest.skip("systemd-tmpfiles is missing (Debian's systemd package)")
    if os.geteuid() != 0:
        pytest.skip("the snippet's root ownership can only be applied as root")
    snippet = ROOT / "systemd" / "news-monitor.tmpfiles"
    done = subprocess.run([tmpfiles, f"--root={tmp_path}", "--create", str(snippet)],  # noqa: S603
                          capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    modes = {p: (tmp_path / p).stat().st_mode & 0o7777 for p in ("etc/news-monitor", "etc/news-monitor/credentials")}
    assert modes == {"etc/news-monitor": 0o755, "etc/news-monitor/credentials": 0o700}
