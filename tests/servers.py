"""Real servers for tests on free loopback ports: mosquitto, VictoriaMetrics, InfluxDB 1.x; a scriptable InfluxDB peer.

Each server runs in its own temporary directory, can be stopped, restarted on
the same port (fault injection), paused with SIGSTOP and resumed, and is always
killed at the end. Test helpers only: never imported by radsurvey itself.
"""

from __future__ import annotations

import gzip
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Pki:
    """A test CA with a server certificate for 127.0.0.1 and a client certificate, plus an unrelated CA."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def make_pki(directory: Path) -> Pki:
    """Generate the certificates with openssl (EC keys: quick), valid for a day."""
    openssl = find_binary("openssl")
    if openssl is None:
        raise RuntimeError("openssl is not installed")
    directory.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=directory)

    def new_ca(name: str) -> None:
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem")  # fmt: skip

    def signed(name: str, cn: str, extensions: str) -> None:
        run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", f"/CN={cn}", "-keyout", f"{name}.key", "-out", f"{name}.csr")  # fmt: skip
        (directory / f"{name}.ext").write_text(extensions + "\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "1", "-extfile", f"{name}.ext", "-out", f"{name}.pem")  # fmt: skip

    new_ca("ca")
    new_ca("other-ca")
    signed("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth")
    signed("client", "radsurvey-test-client", "extendedKeyUsage=clientAuth")
    for key in directory.glob("*.key"):
        key.chmod(0o600)
    return Pki(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        other_ca=directory / "other-ca.pem",
    )


class Mosquitto(_Server):
    """mosquitto on 127.0.0.1; optional password file and ACL (authenticated set-up).

    With ``pki`` there is a second listener on ``tls_port`` that speaks TLS
    with the PKI's server certificate and requires a client certificate signed
    by its CA; the plain listener stays for test subscribers.
    """

    name = "mosquitto"

    def __init__(
        self,
        workdir: Path,
        *,
        users: dict[str, str] | None = None,
        acl: str | None = None,
        pki: Pki | None = None,
        allow_anonymous: bool | None = None,
        extra_config: str = "",
        persistent: bool = False,
    ):
        """``allow_anonymous``: default true without ``users``, false with them.

        ``persistent``: sessions and their queued messages are saved when the
        broker stops and restored when it starts again (``persistence true``),
        with no limit on a session's queue.
        """
        super().__init__(workdir)
        self.allow_anonymous = users is None if allow_anonymous is None else allow_anonymous
        self.binary = find_binary("mosquitto")
        if self.binary is None:
            raise RuntimeError("mosquitto is not installed (Debian package 'mosquitto')")
        self.users = users
        self.acl = acl
        self.pki = pki
        self.persistent = persistent
        self.extra_config = extra_config  # appended to mosquitto.conf: global options, then e.g. a bridge
        self.tls_port = free_port() if pki is not None else None
        self.internal_log = self.workdir / "mosquitto-internal.log"

    def ready(self) -> None:
        wait_for_port(self.port)
        if self.tls_port is not None:
            wait_for_port(self.tls_port)

    def command(self) -> list[str]:
        conf = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            *(
                ["persistence true", f"persistence_location {self.workdir}/", "max_queued_messages 0"]
                if self.persistent
                else ["persistence false"]
            ),
            f"log_dest file {self.internal_log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
        ]
        if self.pki is not None:
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {self.pki.ca}",
                f"certfile {self.pki.server_cert}",
                f"keyfile {self.pki.server_key}",
                "require_certificate true",
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
            lines += [f"allow_anonymous {str(self.allow_anonymous).lower()}", f"password_file {pwfile}"]
            if self.acl is not None:
                aclfile = self.workdir / "acl"
                aclfile.write_text(self.acl)
                aclfile.chmod(0o600)
                lines.append(f"acl_file {aclfile}")
        else:
            lines.append("allow_anonymous true")
        conf.write_text("\n".join(lines) + "\n" + self.extra_config)
        return [str(self.binary), "-c", str(conf)]


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


class InfluxDB1(_Server):
    """InfluxDB 1.x (``influxd`` of Debian's ``influxdb`` package): the v1 ``/write`` and ``/query`` API.

    Only the HTTP API and the RPC service (backup/restore, which influxd always
    opens) listen, both on 127.0.0.1; usage reporting, the internal monitor
    database and every other input are off. With ``auth`` an admin user
    ``admin``/``admin-pw`` is created on first start and authentication is on.
    """

    name = "influxd"

    def __init__(self, workdir: Path, *, auth: bool = False):
        super().__init__(workdir)
        self.binary = find_binary("influxd")
        if self.binary is None:
            raise RuntimeError("influxd is not installed (Debian package 'influxdb')")
        self.rpc_port = free_port()
        self.auth = auth
        self.admin = ("admin", "admin-pw")

    def command(self) -> list[str]:
        conf = self.workdir / "influxdb.conf"
        d = self.workdir
        conf.write_text(
            "\n".join(
                [
                    "reporting-disabled = true",
                    f'bind-address = "127.0.0.1:{self.rpc_port}"',
                    "[meta]",
                    f'  dir = "{d / "meta"}"',
                    "[data]",
                    f'  dir = "{d / "data"}"',
                    f'  wal-dir = "{d / "wal"}"',
                    "  query-log-enabled = false",
                    "[http]",
                    "  enabled = true",
                    f'  bind-address = "127.0.0.1:{self.port}"',
                    "  log-enabled = false",
                    f"  auth-enabled = {'true' if self.auth else 'false'}",
                    "[monitor]",
                    "  store-enabled = false",
                    "[subscriber]",
                    "  enabled = false",
                    "[continuous_queries]",
                    "  enabled = false",
                    "",
                ]
            )
        )
        return [str(self.binary), "run", "-config", str(conf)]

    def ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=0.5) as r:
                    if r.status == 204:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise TimeoutError("influxd does not answer /ping")
        if self.auth and not (self.workdir / ".admin").exists():
            # With auth on and no user yet, InfluxDB 1.x accepts exactly this statement unauthenticated.
            self.query(f"CREATE USER {self.admin[0]} WITH PASSWORD '{self.admin[1]}' WITH ALL PRIVILEGES", auth=False)
            (self.workdir / ".admin").write_text("created\n")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def version(self) -> str:
        with urllib.request.urlopen(f"{self.url}/ping", timeout=5) as r:
            return str(r.headers["X-Influxdb-Version"])

    def query(self, q: str, *, db: str | None = None, auth: bool = True) -> list[dict[str, object]]:
        """Run InfluxQL through ``/query`` (POST); the statements' results, an error raised as RuntimeError."""
        import base64
        import urllib.parse

        params = {"q": q, "epoch": "ns"}
        if db:
            params["db"] = db
        request = urllib.request.Request(
            f"{self.url}/query", data=urllib.parse.urlencode(params).encode(), method="POST"
        )
        if self.auth and auth:
            token = base64.b64encode(f"{self.admin[0]}:{self.admin[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=60) as r:
            answer = json.loads(r.read())
        results: list[dict[str, object]] = answer.get("results", [])
        for result in results:
            if "error" in result:
                raise RuntimeError(f"InfluxQL {q!r}: {result['error']}")
        return results

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"')

    def values(self, q: str, *, db: str) -> list[list[object]]:
        """Every row of every series a SELECT answers."""
        out: list[list[object]] = []
        for result in self.query(q, db=db):
            for series in result.get("series", []) or []:  # type: ignore[attr-defined]
                out.extend(series["values"])
        return out


class InfluxPeer:
    """A small HTTP server that answers InfluxDB's write API the way InfluxDB does, as a test scripts it.

    For what VictoriaMetrics will not do: refuse points (400/422), refuse a body
    as too large (413), be unavailable (503), and show what a client sent
    (headers such as Authorization, and the line protocol). ``answer(request)``
    returns (status, message) per request; the default accepts everything (204).
    Runs in a thread of the test process on a free loopback port.
    """

    def __init__(self, answer: Callable[[PeerRequest], tuple[int, str]] | None = None):
        self.answer = answer or (lambda request: (204, ""))
        self.requests: list[PeerRequest] = []
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def accepted_lines(self) -> list[str]:
        with self._lock:
            return [line for r in self.requests if r.status == 204 for line in r.lines]

    def start(self) -> None:
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                lines = [line for line in body.decode().split("\n") if line]
                request = PeerRequest(self.path, dict(self.headers), lines)
                if self.path.startswith("/api/v2/write"):
                    status, message = peer.answer(request)
                else:
                    status, message = 404, "not found"
                request.status = status
                with peer._lock:
                    peer.requests.append(request)
                payload = (
                    b""
                    if status == 204
                    else json.dumps({"code": _CODES.get(status, "invalid"), "message": message}).encode()
                )
                self.send_response(status)
                if payload:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="influx-peer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None


_CODES = {
    400: "invalid",
    401: "unauthorized",
    413: "request too large",
    422: "unprocessable entity",
    503: "unavailable",
}


@dataclass
class PeerRequest:
    """One request the peer received, and the status it answered."""

    path: str
    headers: dict[str, str]
    lines: list[str]
    status: int = 0
