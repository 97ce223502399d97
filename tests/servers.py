"""Real servers for tests: mosquitto and VictoriaMetrics on free loopback ports.

Each server runs in its own temporary directory, can be stopped, restarted on
the same port (fault injection), paused with SIGSTOP and resumed, and is always
killed at the end. Test helpers only: never imported by radsurvey itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def find_binary(name: str, *extra_dirs: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in (*extra_dirs, "/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
        candidate = Path(d) / name
        if candidate.exists():
            return str(candidate)
    return None


class _Server:
    name = "server"

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> None:
        wait_for_port(self.port)

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} already running"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.command(), cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        try:
            self.ready()
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"{self.name} did not start; log:\n{self.log_path.read_text()[-2000:]}") from None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Mosquitto(_Server):
    """mosquitto on 127.0.0.1; optional password file and ACL (authenticated set-up), optional TLS."""

    name = "mosquitto"

    def __init__(
        self,
        workdir: Path,
        *,
        users: dict[str, str] | None = None,
        acl: str | None = None,
        tls: tuple[Path, Path] | None = None,
    ):
        """``tls``: (certificate, key) files of the listener; clients then must speak TLS."""
        super().__init__(workdir)
        self.tls = tls
        self.binary = find_binary("mosquitto")
        if self.binary is None:
            raise RuntimeError("mosquitto is not installed (Debian package 'mosquitto')")
        self.users = users
        self.acl = acl

    def command(self) -> list[str]:
        conf = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            *([f"certfile {self.tls[0]}", f"keyfile {self.tls[1]}"] if self.tls else []),
            "persistence false",
            f"log_dest file {self.workdir / 'mosquitto-internal.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if os.geteuid() == 0:
            # As root mosquitto would switch to user 'mosquitto', which cannot read
            # the password file and ACL in this private temporary directory.
            lines.append("user root")
        if self.users is not None:
            pwfile = self.workdir / "passwd"
            pwfile.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
            pwfile.chmod(0o600)
            passwd_bin = find_binary("mosquitto_passwd")
            if passwd_bin is None:
                raise RuntimeError("mosquitto_passwd is not installed")
            subprocess.run([passwd_bin, "-U", str(pwfile)], check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
            if self.acl is not None:
                aclfile = self.workdir / "acl"
                aclfile.write_text(self.acl)
                aclfile.chmod(0o600)
                lines.append(f"acl_file {aclfile}")
        else:
            lines.append("allow_anonymous true")
        conf.write_text("\n".join(lines) + "\n")
        return [str(self.binary), "-c", str(conf)]


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA: give it as ca_file) and its key, made by openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "broker.pem", directory / "broker.key"
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", *subject, *files],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


class VictoriaMetrics(_Server):
    """VictoriaMetrics single-node: accepts InfluxDB line protocol on /api/v2/write."""

    name = "victoria-metrics"

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.binary = find_binary("victoria-metrics", "/usr/bin")
        if self.binary is None:
            raise RuntimeError("victoria-metrics is not installed (Debian package 'victoria-metrics')")

    def command(self) -> list[str]:
        return [
            str(self.binary),
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.workdir / 'data'}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-loggerLevel=ERROR",
        ]

    def ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=0.5) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError("victoria-metrics not healthy")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def flush(self) -> None:
        """Make recently written points visible to queries."""
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=5):
            pass

    def export(self, match: str = '{__name__=~".+"}') -> list[dict[str, object]]:
        """Every stored series matching ``match`` (JSON lines from /api/v1/export)."""
        import json
        import urllib.parse

        self.flush()
        q = urllib.parse.urlencode({"match[]": match, "start": "0"})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{q}", timeout=30) as r:
            return [json.loads(line) for line in r.read().decode().splitlines() if line.strip()]
