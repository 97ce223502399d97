"""The console's routes: every page has a JSON twin under ``/api`` (docs/web.md).

The JSON API is the contract; pages are thin Jinja views of the same data and one small script
(``static/console.js``) that keeps them live over SSE. Handlers live in ``views/``, one module per page
family, over ``base.py`` (what they share) and ``security.py`` (the middleware); ``http.py`` is the server.
This module only wires.
"""

from __future__ import annotations

from .base import Console
from .http import Handler, Request, Response, Router, chain
from .security import security
from .views import alarms, facility, login, overview, static, surveys, trends

__all__ = ["Console", "build_app"]


def build_app() -> Handler:
    """The routed console, behind its security middleware (``request.app`` is the :class:`Console`)."""
    r = Router()
    r.get("/", overview.overview_page)
    r.get("/kiosk", overview.kiosk_page)
    r.get("/api/overview", overview.overview_api)
    r.get("/api/events", overview.events)
    r.get("/channels/{channel}", trends.channel_page)
    r.get("/api/channels/{channel}/trend", trends.trend_api)
    r.get("/api/channels/{channel}/trend.csv", trends.trend_csv)
    r.post("/api/channels/{channel}/ack", alarms.ack)
    r.get("/alarms", alarms.alarms_page)
    r.get("/api/alarms", alarms.alarms_api)
    r.get("/login", login.login_page)
    r.post("/login", login.login)
    r.post("/logout", login.logout)
    r.get("/api/session", login.session_api)
    r.get("/surveys", surveys.surveys_page)
    r.get("/api/surveys", surveys.surveys_api)
    r.get("/surveys/{survey}/report", surveys.survey_report)
    r.get("/facility", facility.facility_page)
    r.get("/api/facility", facility.facility_api)
    r.post("/api/facility/surveys", facility.file_survey_api)
    r.post("/api/facility/incidents", facility.open_incident_api)
    r.post("/api/facility/register/{entity}", facility.register_api)
    r.get("/facility/report", facility.facility_report)
    r.get("/static/{name}", static.static)
    r.get("/favicon.ico", static.no_icon)

    async def routed(request: Request) -> Response:
        return await r.resolve(request)(request)

    return chain(routed, [security])
