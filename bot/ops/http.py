"""The ops HTTP server: ``/healthz``, ``/metrics``, ``/status`` and token-guarded control.

One small aiohttp application per process. Health is a list of named checks, each
returning ``None`` when healthy or a reason string; ``/healthz`` answers 200 when all
pass and 503 with the reasons otherwise. Control endpoints (``POST /control/<name>``)
are registered by the components that own the action (kill, resume, strategy switch)
and require ``Authorization: Bearer <token>``; with no token configured they are off
(403). Secrets never appear in responses. Other modules add their routes through
:meth:`OpsServer.extend` (the dashboard: :mod:`bot.ops.dashboard`).

Hardened against clients that misbehave (:class:`Limits`):

- **connections**: at most ``max_connections`` at once; more are answered 503 and closed;
- **timeouts**: a connection with no request in progress is closed after
  ``idle_timeout_s`` (also a new one that sends nothing); a request's line and headers
  must arrive within ``read_timeout_s`` of its first byte, its body within
  ``read_timeout_s`` more (408); the answer must be ready within ``request_timeout_s``
  (503);
- **control bodies**: at most ``max_body_bytes``; decoded strictly (UTF-8, a JSON
  object of the endpoint's known keys with string values of at most
  :data:`MAX_FIELD_CHARS` characters) or 400, naming what is wrong;
- **audit**: every control call -- accepted or refused -- is one ``control audit`` log
  line with the endpoint, the client address, the HTTP status and the outcome.
- **streams**: a path registered with :meth:`OpsServer.add_stream` (the dashboard's
  server-sent events) is exempt from ``request_timeout_s``; the connection cap still counts it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = structlog.get_logger("bot.http")

HealthCheck = Callable[[], str | None]
StatusProvider = Callable[[], dict[str, Any]]
ControlHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]] | dict[str, Any]]

MAX_FIELD_CHARS = 200
"""Longest value of a control body field (e.g. a kill ``reason``): it is journaled and logged."""
_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"
    b"Connection: close\r\n\r\ntoo many connections"
)


@dataclass(frozen=True)
class Limits:
    """What the server tolerates from its clients (see the module doc)."""

    max_connections: int = 32
    idle_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    request_timeout_s: float = 10.0
    max_body_bytes: int = 65_536


class _Connection(asyncio.Protocol):
    """Wraps aiohttp's protocol for one connection: the connection cap and the idle and
    header-read deadlines (aiohttp has neither)."""

    def __init__(self, guard: _Guard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner: asyncio.Protocol | None = inner
        self.transport: asyncio.Transport | None = None
        self.reading = False
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        guard = self.guard
        if len(guard.open) >= guard.limits.max_connections:
            guard.refuse()
            self.inner = None
            transport.write(_REFUSED)
            transport.close()
            return
        self.transport = transport
        guard.open[id(transport)] = self
        assert self.inner is not None
        self.inner.connection_made(transport)
        self._arm(guard.limits.idle_timeout_s, "idle")

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return
        if self._timer is not None and not self.reading:  # the first byte of a request
            self.reading = True
            self._arm(self.guard.limits.read_timeout_s, "read")
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.transport is not None:
            self.guard.open.pop(id(self.transport), None)
        if self.inner is not None:
            self.inner.connection_lost(exc)
            self.inner = None

    # ---- request boundaries (from the middleware) -------------------------------------

    def request_started(self) -> None:
        self._disarm()

    def request_done(self) -> None:
        self.reading = False
        self._arm(self.guard.limits.idle_timeout_s, "idle")

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._expire, what)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, what: str) -> None:
        self._timer = None
        self.guard.timed_out[what] = self.guard.timed_out.get(what, 0) + 1
        if self.transport is not None:
            self.transport.close()


class _Guard:
    """Open connections and what was refused or timed out (shown in /status and logs)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open: dict[int, _Connection] = {}
        self.refused = 0
        self.timed_out: dict[str, int] = {}
        self._refusal_logged = 0.0

    def refuse(self) -> None:
        self.refused += 1
        now = time.monotonic()
        if now - self._refusal_logged >= 10.0:  # a flood is one line per 10 s, not one per connection
            self._refusal_logged = now
            log.warning(
                "ops http: connection refused (too many open)",
                open=len(self.open),
                max_connections=self.limits.max_connections,
                refused_total=self.refused,
            )

    def connection(self, transport: Any) -> _Connection | None:
        return self.open.get(id(transport))


class _GuardedSite(web.BaseSite):
    """A TCP site whose connections go through :class:`_Connection`."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: _Guard) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._guard = guard
        self.bound_port: int | None = None

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.bound_port or self._port}"

    async def start(self) -> None:
        await super().start()
        factory = self._runner.server
        assert factory is not None
        guard = self._guard
        server = await asyncio.get_running_loop().create_server(
            lambda: _Connection(guard, factory()), self._host, self._port, backlog=self._backlog
        )
        self._server = server
        sockets = server.sockets
        self.bound_port = int(sockets[0].getsockname()[1]) if sockets else self._port


class BadBody(Exception):
    """A control body that is not what the endpoint accepts (answered 400)."""


def parse_body(raw: bytes, fields: Collection[str]) -> dict[str, str]:
    """A control body decoded strictly: empty, or a UTF-8 JSON object whose keys are among
    ``fields`` and whose values are strings of at most :data:`MAX_FIELD_CHARS` characters."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(f"body is not UTF-8 (byte {exc.start})") from None
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise BadBody(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadBody("body must be a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise BadBody(f"unknown key(s) {unknown}; this endpoint takes {sorted(fields)}")
    for key, value in body.items():
        if not isinstance(value, str):
            raise BadBody(f"{key} must be a string")
        if len(value) > MAX_FIELD_CHARS:
            raise BadBody(f"{key} is {len(value)} characters; at most {MAX_FIELD_CHARS}")
    return body


class OpsServer:
    def __init__(
        self,
        *,
        registry: CollectorRegistry,
        status: StatusProvider,
        host: str = "127.0.0.1",
        port: int = 8080,
        token: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.registry = registry
        self.status = status
        self.host = host
        self.port = port
        self._token = token
        self.limits = limits or Limits()
        self.guard = _Guard(self.limits)
        self.checks: dict[str, HealthCheck] = {}
        self.controls: dict[str, tuple[ControlHandler, frozenset[str]]] = {}
        self._extensions: list[Callable[[web.Application], None]] = []
        self.pages: dict[str, str] = {}
        """Pages for people (name -> path), logged with their URL when the server starts."""
        self.streams: set[str] = set()
        """Paths whose answers stream for as long as the client stays (no request deadline)."""
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    def add_check(self, name: str, check: HealthCheck) -> None:
        self.checks[name] = check

    def add_control(self, name: str, handler: ControlHandler, fields: Collection[str] = ("reason",)) -> None:
        """``POST /control/<name>`` calls ``handler(body)``; the body may carry only ``fields``."""
        self.controls[name] = (handler, frozenset(fields))

    def extend(self, setup: Callable[[web.Application], None]) -> None:
        """``setup(app)`` adds routes and startup/shutdown hooks when the server starts."""
        self._extensions.append(setup)

    def add_stream(self, path: str) -> None:
        """``GET path`` answers with a stream that lasts as long as its client: no request deadline."""
        self.streams.add(path)

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
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.bound_port or self.port}"

    async def start(self) -> None:
        limits = self.limits
        app = web.Application(client_max_size=limits.max_body_bytes, middlewares=[self._deadlines])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/status", self._status)
        app.router.add_post("/control/{name}", self._control)
        for setup in self._extensions:
            setup(app)
        self._runner = web.AppRunner(
            app, access_log=None, keepalive_timeout=limits.idle_timeout_s, handler_cancellation=True
        )
        await self._runner.setup()
        site = _GuardedSite(self._runner, self.host, self.port, self.guard)
        try:
            await site.start()
        except OSError:  # the caller says why (bot.ops.listen.describe_bind_error)
            await self._runner.cleanup()
            self._runner = None
            raise
        self.bound_port = site.bound_port
        log.info(
            "ops http listening",
            url=self.url,
            control="on" if self._token else "off",
            max_connections=limits.max_connections,
            **{name: self.url + path for name, path in self.pages.items()},
        )

    @web.middleware
    async def _deadlines(self, request: web.Request, handler: Any) -> web.StreamResponse:
        connection = self.guard.connection(request.transport)
        if connection is not None:
            connection.request_started()
        deadline = None if request.path in self.streams else self.limits.request_timeout_s
        try:
            async with asyncio.timeout(deadline):
                response: web.StreamResponse = await handler(request)
                return response
        except TimeoutError:
            if request.writer is not None and request.writer.output_size:
                # the answer had begun (a stream not registered with add_stream): it cannot
                # become a 503 any more, so the connection is cut and the client sees it end early
                if request.transport is not None:
                    request.transport.close()
                raise asyncio.CancelledError from None
            return web.json_response(
                {"error": f"no answer within {self.limits.request_timeout_s:g} s"}, status=503
            )
        finally:
            if connection is not None:
                connection.request_done()

    def connection_stats(self) -> dict[str, Any]:
        return {
            "open": len(self.guard.open),
            "refused": self.guard.refused,
            "timed_out": dict(self.guard.timed_out),
        }

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
            return self._audit(
                request, name, 403, {"error": "control endpoints are disabled (no token configured)"}
            )
        supplied = request.headers.get("Authorization", "")
        expected = f"Bearer {self._token}"
        if not hmac.compare_digest(supplied.encode(), expected.encode()):
            return self._audit(request, name, 401, {"error": "missing or wrong bearer token"})
        control = self.controls.get(name)
        if control is None:
            return self._audit(
                request,
                name,
                404,
                {"error": f"unknown control {name[:64]!r}", "known": sorted(self.controls)},
            )
        handler, fields = control
        try:
            async with asyncio.timeout(self.limits.read_timeout_s):
                raw = await request.read()
        except TimeoutError:
            return self._audit(request, name, 408, {"error": "body not received in time"})
        except web.HTTPRequestEntityTooLarge:
            return self._audit(
                request, name, 413, {"error": f"body larger than {self.limits.max_body_bytes} bytes"}
            )
        try:
            body = parse_body(raw, fields)
        except BadBody as exc:
            return self._audit(request, name, 400, {"error": str(exc)})
        try:
            result = handler(body)
            if isinstance(result, Awaitable):
                result = await result
        except ValueError as exc:
            return self._audit(request, name, 400, {"error": str(exc)}, body)
        return self._audit(request, name, 200, result, body)

    def _audit(
        self,
        request: web.Request,
        endpoint: str,
        status: int,
        answer: dict[str, Any],
        body: dict[str, str] | None = None,
    ) -> web.Response:
        """One log line per control call (accepted or not) with the client's address."""
        peer = request.transport.get_extra_info("peername") if request.transport is not None else None
        client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else request.remote
        fields: dict[str, Any] = {
            "endpoint": endpoint[:64],
            "client": client,
            "status": status,
            "outcome": "ok" if status == 200 else answer.get("error"),
        }
        if body:
            fields["body"] = body
        (log.info if status == 200 else log.warning)("control audit", **fields)
        return web.json_response(answer, status=status)
