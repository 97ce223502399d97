"""``radsurvey meters list|scan|read|emulate``: find, try and simulate meters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from radsurvey.drivers.builtin import BUILTIN

from .common import STATE, fail, run_command

DRIVER_NAMES = ", ".join(sorted(BUILTIN))

app = typer.Typer(help="Find meters, read them once, run device emulators.", no_args_is_help=True)


def option_value(text: str) -> Any:
    """An option's value: JSON when it parses as JSON, else a TOML value (an inline table
    as the READMEs write it, ``{ 0 = "over_range" }``), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    if text.lstrip().startswith(("{", "[")):
        import tomllib

        try:
            return tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            pass
    return text


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` strings -> options (see :func:`option_value`)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            fail(f"--option {pair!r}: expected key=value")
        out[key] = option_value(text)
    return out


def option_args(options: dict[str, Any]) -> str:
    """``-o key=value`` arguments, shell-quoted, that :func:`parse_options` reads back as ``options``."""
    import shlex

    args = []
    for key, value in options.items():
        plain = isinstance(value, str) and value.isprintable() and option_value(value) == value
        args.append("-o " + shlex.quote(f"{key}={value if plain else json.dumps(value)}"))
    return " ".join(args)


def _identity_text(meter: Any) -> str:
    opts = meter.options
    for key in ("port", "usb", "resource", "host"):
        if opts.get(key):
            return f"{key}={opts[key]}" + (f":{opts['tcp_port']}" if key == "host" and "tcp_port" in opts else "")
    return "-"


# -- list -----------------------------------------------------------------------------------


@app.command("list")
def list_command(
    config: Path = typer.Option(..., "--config", "-c", help="daemon config (TOML)"),
    journal: Path | None = typer.Option(None, "--journal", "-j", help="journal to read states from"),
    as_json: bool = typer.Option(False, "--json", help="print JSON lines"),
) -> None:
    """Configured meters and their last known state (from the journal, if there is one)."""

    def _rows() -> list[dict[str, Any]]:
        from radsurvey.config import load_config
        from radsurvey.daemon.journal import reader
        from radsurvey.daemon.supervisor import resolve_journal_path

        cfg = load_config(config)
        path = resolve_journal_path(cfg, journal)
        last: dict[str, dict[str, Any]] = {}
        if path.exists():
            with reader(path) as conn:
                from radsurvey.daemon.journal.queries import last_reading_times, latest_meter_events

                last = {
                    meter: {k: e[k] for k in ("meter", "state", "reason", "ts", "detail")}
                    for meter, e in latest_meter_events(conn).items()
                }

                readings = last_reading_times(conn)
        else:
            readings = {}
        if path.exists() and last:
            from radsurvey.daemon.alarms import store

            if not store.daemon_running(path):
                # The journal's last states are history once the daemon is gone: nothing is connected now.
                for event in last.values():
                    event["reason"] = f"daemon not running (last {event['state']} at {event['ts']})"
                    event["state"] = "stopped"
        rows = []
        for m in cfg.meters:
            event = last.get(m.id, {})
            rows.append(
                {
                    "id": m.id,
                    "driver": m.driver,
                    "enabled": m.enabled,
                    "where": _identity_text(m),
                    "poll_interval_s": m.poll_interval_s,
                    "state": event.get("state") or ("disabled" if not m.enabled else "unknown"),
                    "reason": event.get("reason", ""),
                    "since": event.get("ts"),
                    "last_reading": readings.get(m.id),
                }
            )
        return rows

    rows = run_command(_rows)
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for col in ("meter", "driver", "where", "poll s", "state", "since", "last reading", "reason"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["id"],
            r["driver"],
            r["where"],
            f"{r['poll_interval_s']:g}",
            r["state"],
            r["since"] or "-",
            r["last_reading"] or "-",
            r["reason"],
        )
    Console(width=200).print(table)


# -- scan -----------------------------------------------------------------------------------


def family_guess(vid: int | None, pid: int | None) -> list[str]:
    """Driver names whose known USB ids match."""
    from radsurvey.drivers import registry

    if vid is None or pid is None:
        return []
    usb = f"{vid:04x}:{pid:04x}"
    out = []
    for name in registry.names():
        try:
            spec = registry.get(name)
        except Exception:  # a driver with a missing optional library is simply not a candidate
            continue
        if usb in spec.usb_ids:
            out.append(name)
    return out


async def probe_port(port: str, families: list[str], timeout_s: float) -> dict[str, Any] | None:
    """Try each family's identify query at each of its baud rates; the first answer.

    Line-based probes go before binary ones (see ``DriverSpec.line_probe``).
    """
    from radsurvey.drivers import registry
    from radsurvey.protocols.errors import MeterError

    specs = [registry.get(name) for name in families]
    for spec in sorted(specs, key=lambda s: not s.line_probe):
        name = spec.name
        if spec.probe is None:
            continue
        for baud in spec.baudrates:
            try:
                identity = await spec.probe(port, baud, timeout_s)
            except MeterError:
                identity = None
            if identity is not None:
                return {"driver": name, "baudrate": baud, **identity.as_dict()}
    return None


@app.command("scan")
def scan_command(
    probe: bool = typer.Option(False, "--probe", help="send identify queries (only) at each family's baud rates"),
    port: list[str] = typer.Option([], "--port", help="also scan this path (e.g. a pty); repeatable"),
    timeout_s: float = typer.Option(0.5, "--timeout", min=0.05, max=10, help="reply timeout of one probe"),
    as_json: bool = typer.Option(False, "--json", help="print JSON lines"),
) -> None:
    """Serial ports with USB ids, serial number, by-id path and a guess of the meter family."""
    import asyncio

    from radsurvey.drivers import registry
    from radsurvey.drivers.transport import by_id_links, list_serial_ports

    links = by_id_links()
    rows: list[dict[str, Any]] = []
    for p in list_serial_ports():
        rows.append(
            {
                "device": p.device,
                "usb": f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None else None,
                "serial": p.serial_number,
                "manufacturer": p.manufacturer,
                "product": p.product,
                "by_id": links.get(p.device),
                "guess": family_guess(p.vid, p.pid),
            }
        )
    for extra in port:
        rows.append(
            {
                "device": extra,
                "usb": None,
                "serial": None,
                "manufacturer": None,
                "product": None,
                "by_id": links.get(str(Path(extra).resolve())),
                "guess": [],
            }
        )
    if probe:
        probable = [n for n in registry.names() if _has_probe(n)]

        async def _all() -> None:
            for row in rows:
                families = row["guess"] or (probable if row["device"] in port else [])
                row["answered"] = await probe_port(row["device"], families, timeout_s) if families else None

        asyncio.run(_all())
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    if not rows:
        typer.echo("no serial ports found")
        return
    for row in rows:
        line = f"{row['device']}  usb={row['usb'] or '-'}  serial={row['serial'] or '-'}"
        line += f"  by-id={row['by_id'] or '-'}  guess={','.join(row['guess']) or '-'}"
        if probe:
            a = row.get("answered")
            line += f"  answered={a['driver']} {a['model']} {a['firmware']} @{a['baudrate']}" if a else "  answered=-"
        typer.echo(line)


def _has_probe(name: str) -> bool:
    from radsurvey.drivers import registry

    try:
        return registry.get(name).probe is not None
    except Exception:
        return False


# -- read -----------------------------------------------------------------------------------


def reading_json(reading: Any) -> dict[str, Any]:
    d: dict[str, Any] = reading.as_dict()
    if reading.unit == "uSv/h":
        d["dose_rate_uSv_h"] = reading.value
    return d


@app.command("read")
def read_command(
    driver: str = typer.Option(..., "--driver", "-d", help=f"driver name: {DRIVER_NAMES}"),
    port: str | None = typer.Option(None, "--port", help="serial device path (or /dev/serial/by-id/...)"),
    usb: str | None = typer.Option(None, "--usb", help="USB identity VID:PID[:serial]"),
    resource: str | None = typer.Option(None, "--resource", help="VISA resource (scpi)"),
    host: str | None = typer.Option(None, "--host", help="host[:port] (modbus TCP)"),
    option: list[str] = typer.Option([], "--option", "-o", help="driver option key=value; repeatable"),
    count: int = typer.Option(1, "--count", "-n", min=1, max=1_000_000, help="how many readings"),
    interval_s: float = typer.Option(1.0, "--interval", min=0, max=3600, help="seconds between polls"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
) -> None:
    """Read N values from one meter and exit."""
    import asyncio

    from ..logging import configure_logging

    configure_logging(json=True if STATE.log_json else None, verbose=STATE.verbose)  # warnings to stderr, not stdout
    options = parse_options(option)
    for key, value in (("port", port), ("usb", usb), ("resource", resource)):
        if value is not None:
            options[key] = value
    if host is not None:
        name, sep, tcp_port = host.rpartition(":")
        if sep and tcp_port.isdigit():
            options["host"], options["tcp_port"] = name, int(tcp_port)
        else:
            options["host"] = host

    async def _read() -> None:
        from pydantic import ValidationError

        from radsurvey.config.loader import format_problems, problems_from_validation
        from radsurvey.drivers import registry
        from radsurvey.protocols.errors import ConfigError

        try:
            meter = registry.create(driver, meter_id=driver, poll_interval_s=interval_s, options=options)
        except ValidationError as err:
            valid = registry.get(driver).options_model.model_fields
            raise ConfigError(
                format_problems("options", problems_from_validation(err, options, valid_keys=valid))
            ) from None
        async with meter:
            ident = meter.identity
            if as_json:
                typer.echo(json.dumps({"identity": ident.as_dict()}), err=True)
            else:
                extra = " ".join(f"{k}={v}" for k, v in ident.extra.items())
                typer.echo(f"# {ident.model} {ident.firmware} serial={ident.serial or '-'} {extra}".rstrip(), err=True)
            loop = asyncio.get_running_loop()
            next_at = loop.time()
            for i in range(count):
                reading = await meter.read()
                if as_json:
                    typer.echo(json.dumps(reading_json(reading)))
                else:
                    flags = f" [{','.join(sorted(s.value for s in reading.status))}]" if reading.status else ""
                    typer.echo(f"{reading.as_dict()['ts']}  {reading.value:.6g} {reading.unit}{flags}")
                if i + 1 < count and not meter.self_paced:
                    next_at += interval_s
                    await asyncio.sleep(max(0.0, next_at - loop.time()))

    run_command(lambda: asyncio.run(_read()))


# -- emulate --------------------------------------------------------------------------------


@app.command("emulate")
def emulate_command(
    name: str = typer.Argument(..., help=f"driver whose device to emulate: {DRIVER_NAMES} (not simulated)"),
    pty: bool = typer.Option(False, "--pty", help="serve on a pty even where TCP is the default (modbus RTU)"),
    link: Path | None = typer.Option(None, "--link", help="also present the pty under this symlink (like by-id)"),
    option: list[str] = typer.Option([], "--option", "-o", help="emulator setting key=value; repeatable"),
    model: str | None = typer.Option(None, "--model", help="gmc: model and firmware, e.g. gmc-500-1.08"),
    stale_bytes: bool = typer.Option(False, "--stale-bytes", help="gmc: leftovers arrive for 1 s after connect"),
    nul_volt: bool = typer.Option(False, "--nul-volt", help="gmc: GETVOLT answers 4.0v and a NUL"),
    baud: int | None = typer.Option(None, "--baud", help="gmc: the meter's own line speed"),
    stock_banner: bool = typer.Option(False, "--stock-banner", help="ascii: stock firmware banner (no '#')"),
    brown_out: int = typer.Option(0, "--brown-out", min=0, help="ascii: reset after every N reports"),
    power_on_after: float = typer.Option(0.0, "--power-on-after", min=0, help="ascii: switched on N s after start"),
    counter_reset: bool = typer.Option(False, "--counter-reset", help="radpro: pulse counter set back to 0"),
    compensation: float = typer.Option(0.0, "--compensation", min=0, help="radpro: dead-time compensation, s"),
    gmc800: bool = typer.Option(False, "--gmc800", help="radpro: Rad Pro on a GMC-800 (answers GETVER)"),
    keithley: bool = typer.Option(False, "--keithley", help="scpi: Keithley replies (NADC,...secs,...RDNG#)"),
    split_frames: bool = typer.Option(False, "--split-frames", help="radiacode: every reply in two pieces"),
    seq_jump: bool = typer.Option(False, "--seq-jump", help="radiacode: records lost (a sequence jump)"),
    unknown_record: bool = typer.Option(False, "--unknown-record", help="radiacode: a record kind nobody knows"),
    old_firmware: bool = typer.Option(False, "--old-firmware", help="radiacode: firmware 4.7 (refused)"),
    unit_change: bool = typer.Option(False, "--unit-change", help="radeye: into mSv/h, then R/h"),
    prd_er: bool = typer.Option(False, "--prd-er", help="radeye: a PRD-ER (count rate first, dose rate second)"),
    corrupt_every: int = typer.Option(0, "--corrupt-every", min=0, help="radeye: every N-th record corrupted"),
    bdkg: bool = typer.Option(False, "--bdkg", help="modbus: an Atomtex BDKG (FC04 only after its start sequence)"),
) -> None:
    """Run a device emulator and print where to connect; runs until Ctrl-C.

    Quirk modes reproduce field problems without hardware (see docs/drivers.md).
    """
    modes: dict[str, Any] = {
        key: value
        for key, value, default in (
            ("model", model, None),
            ("stale_bytes", stale_bytes, False),
            ("nul_volt", nul_volt, False),
            ("baudrate", baud, None),
            ("stock_banner", stock_banner, False),
            ("brown_out_every", brown_out, 0),
            ("power_on_after_s", power_on_after, 0.0),
            ("counter_reset", counter_reset, False),
            ("dead_time_compensation_s", compensation, 0.0),
            ("gmc800", gmc800, False),
            ("keithley", keithley, False),
            ("split_frames", split_frames, False),
            ("seq_jump", seq_jump, False),
            ("unknown_record", unknown_record, False),
            ("old_firmware", old_firmware, False),
            ("unit_change", unit_change, False),
            ("prd_er", prd_er, False),
            ("corrupt_every", corrupt_every, 0),
            ("bdkg", bdkg, False),
        )
        if value != default
    }
    import signal
    import threading

    def _start() -> Any:
        from radsurvey.drivers import registry
        from radsurvey.drivers.emulator import DeviceModel, PtyEmulator, TcpEmulator
        from radsurvey.protocols.errors import ConfigError

        factory = registry.emulator_factory(name)
        settings = parse_options(option)
        for key, value in modes.items():
            if not _accepts(factory, key):
                flag = "--" + {
                    "baudrate": "baud",
                    "brown_out_every": "brown-out",
                    "power_on_after_s": "power-on-after",
                    "dead_time_compensation_s": "compensation",
                }.get(key, key).replace("_", "-")
                raise ConfigError(f"the {name} emulator has no mode {flag}")
            settings[key] = value
        try:
            if _accepts(factory, "pty"):
                settings["pty"] = pty
            if link is not None and _accepts(factory, "link"):
                settings["link"] = link
            made = factory(**settings)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"emulator settings: {err}") from None
        try:
            if isinstance(made, DeviceModel):
                # A device whose own wire is not serial (RadiaCode: USB bulk) is served over TCP.
                if getattr(made, "default_transport", "pty") == "tcp" and not pty and link is None:
                    return TcpEmulator(made).start(), made.driver_options()
                return PtyEmulator(made, link=link).start(), made.driver_options()
            return made.start(), made.driver_options()
        except OSError as err:
            where = f"--link {link}" if link is not None else "the emulator"
            hint = f" (directory {link.parent} does not exist)" if link is not None and not link.parent.is_dir() else ""
            raise ConfigError(f"cannot start {where}: {err.strerror or err}{hint}") from None
        except RuntimeError as err:  # a server that did not start (e.g. its TCP port is taken)
            raise ConfigError(str(err)) from None

    emulator, driver_options = run_command(_start)
    where = getattr(emulator, "where", None) or emulator.port
    typer.echo(f"{name} emulator ready: {where}")
    read = f"radsurvey meters read --driver {name} {_connect_hint(name, where)}"
    if driver_options:
        read += " " + option_args(driver_options)
    typer.echo(f"try: {read} --count 5", err=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
        if STATE.verbose:
            typer.echo("emulator stopped", err=True)


def _accepts(factory: Any, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def _connect_hint(name: str, where: str) -> str:
    import shlex

    if name == "scpi":
        return f"--resource {shlex.quote(f'ASRL{where}::INSTR')}"
    if where.startswith("tcp://"):
        # Modbus TCP is a protocol of its own (--host); other drivers read the byte stream at --port tcp://.
        return f"--host {where.removeprefix('tcp://')}" if name == "modbus" else f"--port {where}"
    if "::" in where:
        return f"--resource {shlex.quote(where)}"
    return f"--port {shlex.quote(where)}"


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="meters")
