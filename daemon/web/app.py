"""The console's routes: every page has a JSON twin under ``/api`` (docs/web.md).

The JSON API is the contract; pages are thin Jinja views of the same data and one small script
(``static/console.js``) that keeps them live over SSE. Handlers live in ``views/``, one module per page
family, over ``base.py`` (what they share) and ``security.py`` (the middleware); this module only wires.
"""

from __future__ import annotations

from aiohttp import web

from .base import CONSOLE, Console
from .security import security
from .views import alarms, facility, login, overview, static, surveys, trends

__all__ = ["Console", "build_app"]


def build_app(console: Console) -> web.Application:
    app = web.Application(middlewares=[security], client_max_size=64 * 1024)
    app[CONSOLE] = console
    r = app.router
    r.add_get("/", overview.overview_page)
    r.add_get("/kiosk", overview.kiosk_page)
    r.add_get("/api/overview", overview.overview_api)
    r.add_get("/api/events", overview.events)
    r.add_get("/channels/{channel}", trends.channel_page)
    r.add_get("/api/channels/{channel}/trend", trends.trend_api)
    r.add_get("/api/channels/{channel}/trend.csv", trends.trend_csv)
    r.add_post("/api/channels/{channel}/ack", alarms.ack)
    r.add_get("/alarms", alarms.alarms_page)
    r.add_get("/api/alarms", alarms.alarms_api)
    r.add_get("/login", login.login_page)
    r.add_post("/login", login.login)
    r.add_post("/logout", login.logout)
    r.add_get("/api/session", login.session_api)
    r.add_get("/surveys", surveys.surveys_page)
    r.add_get("/api/surveys", surveys.surveys_api)
    r.add_get("/surveys/{survey}/report", surveys.survey_report)
    r.add_get("/facility", facility.facility_page)
    r.add_get("/api/facility", facility.facility_api)
    r.add_post("/api/facility/surveys", facility.file_survey_api)
    r.add_post("/api/facility/incidents", facility.open_incident_api)
    r.add_post("/api/facility/register/{entity}", facility.register_api)
    r.add_get("/facility/report", facility.facility_report)
    r.add_get("/static/{name}", static.static)
    r.add_get("/favicon.ico", static.no_icon)
    return app
