"""The ops HTTP server: ``/healthz``, ``/metrics``, ``/status`` and token-guarded control.

One small aiohttp application per process. Health is a list of named checks, each
returning ``None`` when healthy or a reason string; ``/healthz`` answers 200 when all
pass and 503 with the reasons otherwise. Control endpoints (``POST /control/<name>``)
are registered by the components that own the action (kill, resume, strategy switch)
and require ``Authorization: Bearer <token>``; with no token configured they are off
(403). Secrets never appear in responses. Other modules add their routes through
:meth:`OpsServer.extend` (the dashboard: :mod:`bot.ops.dashboard`).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = structlog.get_logger("bot.http")

HealthCheck = Callable[[], str | None]
StatusProvider = Callable[[], dict[str, Any]]
ControlHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]] | dict[str, Any]]


class OpsServer:
    def __init__(
        self,
        *,
        registry: CollectorRegistry,
        status: StatusProvider,
        host: str = "127.0.0.1",
        port: int = 8080,
        token: str | None = None,
    ) -> None:
        self.registry = registry
        self.status = status
        self.host = host
        self.port = port
        self._token = token
        self.checks: dict[str, HealthCheck] = {}
        self.controls: dict[str, ControlHandler] = {}
        self._extensions: list[Callable[[web.Application], None]] = []
        self.pages: dict[str, str] = {}
        """Pages for people (name -> path), logged with their URL when the server starts."""
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    def add_check(self, name: str, check: HealthCheck) -> None:
        self.checks[name] = check

    def add_control(self, name: str, handler: ControlHandler) -> None:
        self.controls[name] = handler

    def extend(self, setup: Callable[[web.Application], None]) -> None:
        """``setup(app)`` adds routes and startup/shutdown hooks when the server starts."""
        self._extensions.append(setup)

    @property
    def control_enabled(self) -> bool:
        return self._token is not None

    def authorized(self, request: web.Request) -> bool:
        """True if ``request`` carries the control token (``Authorization: Bearer``)."""
        if self._token is None:
            return False
        supplied = request.headers.get("Authorization", "")
        return hmac.compare_digest(supplied.encode(), f"Bearer {self._token}".encode())

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.bound_port or self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/status", self._status)
        app.router.add_post("/control/{name}", self._control)
        for setup in self._extensions:
            setup(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port
        log.info(
            "ops http listening",
            url=self.url,
            control="on" if self._token else "off",
            **{name: self.url + path for name, path in self.pages.items()},
        )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def health(self) -> tuple[bool, dict[str, str]]:
        failures = {}
        for name, check in self.checks.items():
            try:
                reason = check()
            except Exception as exc:  # a broken check is itself unhealthy
                reason = f"check failed: {type(exc).__name__}: {exc}"
            if reason:
                failures[name] = reason
        return not failures, failures

    async def _healthz(self, _request: web.Request) -> web.Response:
        ok, failures = self.health()
        body = {"status": "ok" if ok else "unhealthy", "failures": failures}
        return web.json_response(body, status=200 if ok else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        payload = generate_latest(self.registry)
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _status(self, _request: web.Request) -> web.Response:
        return web.json_response(self.status(), dumps=lambda obj: json.dumps(obj, default=str))

    async def _control(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if self._token is None:
            return web.json_response(
                {"error": "control endpoints are disabled (no token configured)"}, status=403
            )
        supplied = request.headers.get("Authorization", "")
        expected = f"Bearer {self._token}"
        if not hmac.compare_digest(supplied.encode(), expected.encode()):
            log.warning("control request rejected", endpoint=name, reason="missing or wrong token")
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        handler = self.controls.get(name)
        if handler is None:
            return web.json_response(
                {"error": f"unknown control {name!r}", "known": sorted(self.controls)}, status=404
            )
        try:
            body = await request.json() if request.can_read_body else {}
        except json.JSONDecodeError:
            return web.json_response({"error": "body must be JSON"}, status=400)
        try:
            result = handler(body if isinstance(body, dict) else {})
            if isinstance(result, Awaitable):
                result = await result
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        log.info("control request", endpoint=name)
        return web.json_response(result)
