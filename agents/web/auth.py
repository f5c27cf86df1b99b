"""The web port's lock (SPEC §8): with a token set, every endpoint but `/api/health` needs
`Authorization: Bearer <token>` (what Prometheus' `authorization` scrape setting sends) or `?token=`
(for a TV that can only open a URL: the board's page passes it on to its assets, stream and API calls).
Tokens are compared in constant time; a refusal is a 401 that names what to send, never the token."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import faust
from aiohttp import web

from streams.kafka.internals import aiohttp_app

PUBLIC = frozenset({"/api/health"})  # probes and load balancers ask without credentials
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def authorized(request: web.Request, token: bytes) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token):
        return True
    query = request.query.get("token")
    return query is not None and hmac.compare_digest(query.encode(), token)


def install_auth(app: faust.App, token: str | None) -> None:
    """Lock every route of the app's web server (ours and Faust's own) behind the token, if one is set."""
    if token is None:
        return
    secret = token.encode()

    @web.middleware
    async def lock(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC or authorized(request, secret):
            return await handler(request)
        return web.json_response(
            {"error": "unauthorized: send Authorization: Bearer <token>, or ?token=<token> on the wallboard's URL"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="salesfloor"', "Cache-Control": "no-store"},
        )

    aiohttp_app(app).middlewares.append(lock)


def token_headers(token: str | None) -> dict[str, str]:
    """The header a worker sends another (a forwarded API call) when the port is locked."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def passes_token(request: Any) -> str:
    """`?token=…` to append to the URLs a page served for this request loads, when it came with one."""
    token = request.query.get("token")
    return "" if not token else "?" + urlencode({"token": token})
