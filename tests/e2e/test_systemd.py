"""The systemd units verify, and the daemon speaks sd_notify in the installed layout."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import radsurvey.systemd as units

REPO = Path(__file__).resolve().parents[2]

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed (Debian package 'systemd')"
)


def fake_root(tmp_path: Path, unit_files: dict[str, str]) -> Path:
    """A root with the system's units, our units and the ExecStart binary the units name."""
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    exe = root / "opt/radsurvey/venv/bin/radsurvey"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    for name, text in unit_files.items():
        (root / "etc/systemd/system" / name).write_text(text)
    return root


def verify(root: Path, unit: str) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, "verify", f"--root={root}", unit], capture_output=True, text=True, timeout=60
    )


@needs_analyze
@pytest.mark.parametrize("unit", ["radsurvey.service", "radsurvey@clinic.service"])
def test_units_pass_systemd_analyze_verify(tmp_path: Path, unit: str) -> None:
    files = {n: units.path(n).read_text() for n in ("radsurvey.service", "radsurvey@.service")}
    out = verify(fake_root(tmp_path, files), unit)
    assert out.returncode == 0 and out.stderr == "", out.stderr


def documented_drop_in() -> str:
    """The GPIO/HID relay drop-in as docs/raspberry-pi.md shows it."""
    text = (REPO / "docs/raspberry-pi.md").read_text()
    section = text[text.index("### GPIO and HID relays") :]
    start = section.index("```ini\n") + len("```ini\n")
    return section[start : section.index("```", start)]


@needs_analyze
def test_the_documented_relay_drop_in_verifies_and_keeps_the_serial_ports(tmp_path: Path) -> None:
    drop_in = documented_drop_in()
    assert "DeviceAllow=/dev/gpiochip0 rw" in drop_in and "SupplementaryGroups=gpio" in drop_in
    root = fake_root(tmp_path, {"radsurvey.service": units.path("radsurvey.service").read_text()})
    (root / "etc/systemd/system/radsurvey.service.d").mkdir()
    (root / "etc/systemd/system/radsurvey.service.d/relay.conf").write_text(drop_in)
    out = verify(root, "radsurvey.service")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert "DevicePolicy=" not in drop_in, "the drop-in adds devices; it must not open the policy"


@needs_analyze
def test_verification_catches_a_broken_unit(tmp_path: Path) -> None:
    broken = units.path("radsurvey.service").read_text().replace("WatchdogSec=30", "WatchdogSecs=30")
    out = verify(fake_root(tmp_path, {"radsurvey.service": broken}), "radsurvey.service")
    assert "Unknown key 'WatchdogSecs'" in out.stderr  # systemd only warns: the test above wants stderr empty


@needs_analyze
def test_verification_needs_the_exec_start_binary(tmp_path: Path) -> None:
    root = fake_root(tmp_path, {"radsurvey.service": units.path("radsurvey.service").read_text()})
    (root / "opt/radsurvey/venv/bin/radsurvey").unlink()
    out = verify(root, "radsurvey.service")
    assert out.returncode != 0 and "not executable" in out.stderr


HARDENING = (
    "Type=notify",
    "WatchdogSec=30",
    "Restart=on-failure",
    "User=radsurvey",
    "SupplementaryGroups=dialout",
    "ConfigurationDirectory=radsurvey",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "NoNewPrivileges=yes",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    "CapabilityBoundingSet=",
    "AmbientCapabilities=",
    "RestrictNamespaces=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectControlGroups=yes",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "DevicePolicy=closed",
)
# Every kind of serial port a meter can be on: USB-serial bridges (ttyUSB), USB CDC-ACM
# (ttyACM: Rad Pro, many new meters), the Pi's PL011 UART (ttyAMA) and 8250/mini UARTs (ttyS).
SERIAL_TTYS = ("ttyUSB", "ttyACM", "ttyAMA", "ttyS")


@pytest.mark.parametrize(
    ("unit", "own"),
    [
        ("radsurvey.service", ("StateDirectory=radsurvey", "LogsDirectory=radsurvey")),
        ("radsurvey@.service", ("StateDirectory=radsurvey/%i", "LogsDirectory=radsurvey/%i")),
    ],
)
def test_both_units_have_the_required_hardening(unit: str, own: tuple[str, ...]) -> None:
    text = units.path(unit).read_text()
    for line in (*HARDENING, *own):
        assert f"\n{line}\n" in text, f"{unit}: {line}"


@pytest.mark.parametrize("unit", ["radsurvey.service", "radsurvey@.service"])
def test_both_units_allow_every_serial_tty_kind_and_raw_usb_only(unit: str) -> None:
    lines = units.path(unit).read_text().splitlines()
    allowed = sorted(line for line in lines if line.startswith("DeviceAllow="))
    expected = [*(f"DeviceAllow=char-{tty} rw" for tty in SERIAL_TTYS), "DeviceAllow=char-usb_device rw"]
    assert allowed == sorted(expected)


def test_udev_rules_name_the_known_meters_for_group_dialout() -> None:
    text = units.path("99-radsurvey.rules").read_text()
    assert 'ATTRS{idVendor}=="1a86", ATTRS{idProduct}=="7523"' in text
    assert 'ATTRS{idVendor}=="0483", ATTRS{idProduct}=="5740"' in text
    # RadiaCode: a USB bulk device, only given to the group (the driver finds it by id and serial)
    assert 'SUBSYSTEM=="usb", ATTRS{idVendor}=="0483", ATTRS{idProduct}=="f123", GROUP="dialout"' in text
    assert text.count('GROUP="dialout"') == 3 and 'SYMLINK+="radsurvey/' in text


def test_udev_rules_match_every_serial_tty_kind() -> None:
    rules = [line for line in units.path("99-radsurvey.rules").read_text().splitlines() if not line.startswith("#")]
    # The gate is the tty subsystem, not a kernel name: a meter gets its name whether
    # its driver makes it ttyUSB (CH340), ttyACM (CDC-ACM), ttyAMA or ttyS.
    assert 'SUBSYSTEM!="tty", GOTO="radsurvey_end"' in rules
    assert not any("KERNEL" in line for line in rules)


def test_install_scripts_are_valid_shell() -> None:
    for name in ("install.sh", "uninstall.sh"):
        for shell in ("sh", "bash"):
            out = subprocess.run([shell, "-n", str(units.path(name))], capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, f"{shell} -n {name}: {out.stderr}"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (Debian package 'shellcheck')")
def test_install_scripts_pass_shellcheck() -> None:
    scripts = [str(units.path(n)) for n in ("install.sh", "uninstall.sh")]
    out = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout


@pytest.mark.parametrize("unit", ["radsurvey.service", "radsurvey@.service"])
def test_the_documentation_the_units_link_to_is_shipped(unit: str) -> None:
    (link,) = [line for line in units.path(unit).read_text().splitlines() if line.startswith("Documentation=")]
    page = link.removeprefix("Documentation=file:///opt/radsurvey/docs/")
    assert page != link, "install.sh copies the docs to /opt/radsurvey/docs"
    assert (units.docs_dir() / page).is_file()


def run_install_sh_unprivileged(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """install.sh with an ``id`` that says "not root": it can only get as far as its argument checks."""
    fake_bin = script.parent / "fake-bin"
    fake_bin.mkdir(exist_ok=True)
    (fake_bin / "id").write_text("#!/bin/sh\necho 1000\n")
    (fake_bin / "id").chmod(0o755)
    env = {"PATH": f"{fake_bin}:/usr/bin:/bin", "LANG": "C"}
    return subprocess.run(["sh", str(script), *args], capture_output=True, text=True, env=env, timeout=30)


def test_install_sh_outside_a_checkout_asks_what_to_install(tmp_path: Path) -> None:
    script = tmp_path / "site-packages/radsurvey/systemd/install.sh"  # as in an installed package
    script.parent.mkdir(parents=True)
    shutil.copy(units.path("install.sh"), script)
    out = run_install_sh_unprivileged(script)
    assert out.returncode == 2
    assert "give what to install, a wheel file or radsurvey==X.Y" in out.stdout
    given = run_install_sh_unprivileged(script, "radsurvey==0.1.0")
    assert given.returncode == 1 and "run as root" in given.stdout  # the source is taken; then it needs root


def test_the_shipped_default_config_is_valid() -> None:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "radsurvey"), "config", "check", str(units.path("radsurvey.toml"))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr


CONFIG = """
[site]
id = "pi"
[journal]
path = "radsurvey.sqlite"
commit_interval_s = 0.1
[[meters]]
id = "m1"
driver = "simulated"
poll_interval_s = 0.05
[[channels]]
id = "desk"
meter = "m1"
room_category = 1
[[channels.alarms]]
kind = "twa"
window_s = 60
"""


def test_daemon_under_a_notify_socket_reaches_ready_pings_and_says_stopping(tmp_path: Path) -> None:
    state = tmp_path / "var/lib/radsurvey"
    conf = tmp_path / "etc/radsurvey"
    state.mkdir(parents=True)
    conf.mkdir(parents=True)
    (conf / "radsurvey.toml").write_text(CONFIG)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(0.5)
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(tmp_path / "notify"),
        "STATE_DIRECTORY": str(state),
        "CONFIGURATION_DIRECTORY": str(conf),
        "LOGS_DIRECTORY": str(tmp_path / "log"),
        "WATCHDOG_USEC": "400000",
    }
    log = open(tmp_path / "stderr.log", "wb")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "radsurvey"),
            "--log-json",
            "run",
            "--config",
            str(conf / "radsurvey.toml"),
            "--json",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    messages: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum(m.startswith("WATCHDOG=1") for m in messages) < 2:
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                assert proc.poll() is None, (tmp_path / "stderr.log").read_text()
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(m.startswith("STOPPING=1") for m in messages):
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                pass
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
        log.close()
    ready = [m for m in messages if m.startswith("READY=1")]
    assert len(ready) == 1 and "STATUS=" in ready[0] and "channels" in ready[0]
    assert messages.index(ready[0]) < min(i for i, m in enumerate(messages) if m.startswith("WATCHDOG=1"))
    assert any(m.startswith("STOPPING=1") for m in messages)
    assert (state / "radsurvey.sqlite").exists()  # the relative journal path is under STATE_DIRECTORY
