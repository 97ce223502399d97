"""What every console page shares: the :class:`Console` (config, live state, journal, accounts, sessions),
the one Jinja environment, JSON answers and errors (docs/web.md)."""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from ..journal import ReadConnection, connect
from ..memory import release_freed_memory
from .auth import LoginLimiter, Session, Sessions, UsersFile
from .http import HTTPError, Request, Response
from .live import LiveState
from .text import script_words

if TYPE_CHECKING:
    from radsurvey.config.schema import DaemonConfig
    from radsurvey.config.web import WebConfig

    from ..alarms.service import AlarmService
    from ..journal import Journal

SESSION_COOKIE = "radsurvey_session"
LOGIN_CSRF_COOKIE = "radsurvey_login_csrf"
LANG_COOKIE = "radsurvey_lang"
LANGS = ("en", "ru", "kk", "fa", "ro")
RTL_LANGS = ("fa",)
_PAGE_LANG: contextvars.ContextVar[str] = contextvars.ContextVar("radsurvey_web_page_lang", default="en")

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

# Password hashing runs on a thread of its own (never the default executor the sinks use), at most
# HASH_QUEUE logins waiting for it; beyond, a login answers 503 and is not counted against anyone.
HASH_QUEUE = 8
# Reports are rendered one at a time (a PDF starts a Chromium); at most REPORT_QUEUE wait, beyond: 503.
REPORT_QUEUE = 4
REPORT_CACHE = 16  # rendered reports kept, by survey content, format and language


class Console:
    """Everything the handlers share: config, live state, journal path, accounts, sessions."""

    def __init__(
        self,
        cfg: DaemonConfig,
        web_cfg: WebConfig,
        *,
        live: LiveState,
        journal_path: Path,
        users: UsersFile,
        alarms: AlarmService | None,
        journal: Journal | None = None,
    ):
        self.cfg = cfg
        self.web_cfg = web_cfg
        self.live = live
        self.journal_path = journal_path
        self.users = users
        self.alarms = alarms
        self.journal = journal
        self.sessions = Sessions(idle_s=web_cfg.session_idle_s)
        self.limiter = LoginLimiter(
            web_cfg.login_attempts, web_cfg.login_window_s, address_attempts=web_cfg.login_attempts_per_address
        )
        self.hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="radsurvey-web-scrypt")
        self.hashing = 0  # logins waiting for or in the hasher
        self.report_lock = asyncio.Lock()
        self.reports_waiting = 0  # report requests waiting for or holding report_lock
        self.report_cache: OrderedDict[tuple[str, str, str, str], bytes] = OrderedDict()
        self._users_stamp = users.stamp()
        self._env: Any = None  # the Jinja environment, made at the first page
        self.timezone = site_timezone(cfg)

    def close(self) -> None:
        self.hasher.shutdown(wait=False, cancel_futures=True)

    # -- helpers ------------------------------------------------------------------------------

    def env(self, lang: str) -> Any:
        """The one Jinja environment: pages in every language share its compiled templates.

        Its gettext and number filters follow :data:`_PAGE_LANG`, which :meth:`page` sets around each
        (synchronous) render, so a template (and an imported macro module) is compiled once, not per language.
        """
        _PAGE_LANG.set(lang)
        if self._env is None:
            import jinja2

            from ..report.i18n import formatter, translations
            from .text import event_text, rule_text, unit_text

            numbers: dict[str, Any] = {}
            zone = self.timezone

            def fmt() -> Any:
                return formatter(_PAGE_LANG.get(), timezone=zone)

            def gettext(message: str) -> str:
                text: str = translations(_PAGE_LANG.get()).gettext(message)
                return text

            def number(v: Any, spec: str) -> str:
                current = _PAGE_LANG.get()
                if current not in numbers:
                    numbers[current] = formatter(current).number
                text: str = numbers[current](v, spec)
                return text

            env = jinja2.Environment(
                loader=jinja2.PackageLoader(__name__.rsplit(".", 1)[0], "templates"),
                autoescape=True,
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.install_gettext_callables(  # type: ignore[attr-defined]
                lambda message: translations(_PAGE_LANG.get()).gettext(message),
                lambda singular, plural, n: translations(_PAGE_LANG.get()).ngettext(singular, plural, n),
                newstyle=True,
            )
            env.filters["num"] = lambda v: number(v, _dose_spec(v))
            env.filters["exact"] = lambda v: "—" if v is None else number(v, ".6g")
            env.filters["clock"] = lambda v: fmt().clock(v)  # the site's time with its offset (issue 22)
            env.filters["moment"] = lambda v: fmt().moment(v) if v else "—"
            env.filters["unit"] = lambda v: unit_text(v, gettext)
            env.filters["rule"] = lambda rule, kind="": rule_text(rule, kind, gettext)
            env.filters["event"] = lambda v: event_text(v, gettext)
            self._env = env
        return self._env

    def lang(self, request: Request) -> str:
        asked = request.query.get("lang") or request.cookies.get(LANG_COOKIE)
        return asked if asked in LANGS else self.web_cfg.language

    def session(self, request: Request) -> Session | None:
        stamp = self.users.stamp()
        if stamp != self._users_stamp:  # `web user add/remove` rewrote the accounts: a changed password ends sessions
            self._users_stamp = stamp
            try:
                accounts = self.users.load()
            except Exception:  # an unreadable file: nobody's session can be vouched for
                accounts = {}
            for user in self.sessions.end_changed(accounts):
                log.info("web session ended: the account's password changed or it was removed", user=user)
        return self.sessions.get(request.cookies.get(SESSION_COOKIE))

    def page(self, request: Request, template: str, **ctx: Any) -> Response:
        from ..report.i18n import translations

        lang = self.lang(request)
        session = self.session(request)
        gettext = translations(lang).gettext
        env = self.env(lang)
        compiled = len(env.cache) if env.cache is not None else 0
        body = env.get_template(template).render(
            lang=lang,
            dir="rtl" if lang in RTL_LANGS else "ltr",
            langs=LANGS,
            timezone=self.timezone,
            site=self.cfg.site,
            user=session.user if session else None,
            csrf=session.csrf if session else "",
            words=script_words(gettext),
            path=request.path,
            view_login=self.web_cfg.view == "login",
            facility_alerts=self.facility_alerts(),
            **ctx,
        )
        if env.cache is not None and len(env.cache) != compiled:  # a template compiled for the first time
            release_freed_memory()
        resp = Response(body, content_type="text/html")
        if request.query.get("lang") in LANGS:
            resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="Strict", httponly=True, path="/")
        return resp

    def facility_alerts(self) -> list[dict[str, Any]]:
        """Rooms on hold or overdue, as the alarm service last read the facility record (top of every page)."""
        state = getattr(self.alarms, "facility_state", None) or {}
        rooms: dict[str, dict[str, Any]] = {}
        for room in state.values():
            if room["hold"] or room["overdue"]:
                rooms[room["room"]] = room
        return [rooms[name] for name in sorted(rooms)]

    def read(self) -> ReadConnection:
        return connect(self.journal_path, readonly=True)

    async def query(self, fn: Callable[[ReadConnection], Any]) -> Any:
        """Run ``fn`` on a fresh read-only connection in a worker thread (the loop never waits on SQLite)."""

        def _run() -> Any:
            conn = self.read()
            try:
                return fn(conn)
            finally:
                conn.close()

        return await asyncio.to_thread(_run)

    def channel_or_404(self, request: Request) -> str:
        channel = request.match_info["channel"]
        if channel not in self.live.channels:
            raise json_error(404, f"no channel {channel!r}")
        return channel


log = structlog.get_logger("radsurvey.web")


def site_timezone(cfg: DaemonConfig) -> str:
    """The zone the console prints times in: ``[site] timezone``, else this machine's, else UTC."""
    from ..survey.metadata import local_timezone

    return cfg.site.timezone or local_timezone() or "UTC"


def _dose_spec(value: object) -> str:
    """Decimals as a meter shows a dose rate: 3 below 1, then 2, 1, 0 (0.052, 1.80, 13.2, 140)."""
    try:
        a = abs(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ".6g"
    return ".3f" if a < 1 else ".2f" if a < 10 else ".1f" if a < 100 else ".0f"


def json_error(status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any) -> HTTPError:
    """``{"error": message, **extra}`` with ``status``; ``headers`` go into the answer's headers, not its body."""
    body = json.dumps({"error": message, **extra})
    return HTTPError(Response(body, status=status, content_type="application/json", headers=headers))


def json_ok(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status=status, content_type="application/json")
