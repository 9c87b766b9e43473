"""Logging setup: structlog over the standard library's handlers.

Logs go to stderr (stdout stays free for command output): human-readable on a
terminal, one JSON object per line otherwise (Docker, files, CI). Optionally also to
a size-rotated JSON file (``logging.file``, ``max_bytes``, ``backups``; unset = the
stream only, Docker's default); a log file that cannot be written (full disk) is reported
once on the stream, not once per line. Context such as ``engine``, ``instrument`` and ``regime``
is bound with ``structlog.contextvars`` or ``log.bind`` (the quoting pipeline binds its
engine, instrument and current regime). Two redaction passes keep credentials out of every
line: values under credential-like key names and every ``SecretStr`` are masked, and the
values registered with :func:`register_secrets` (the exchange keys) are masked wherever
they appear -- in messages, fields and rendered exception tracebacks.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import structlog
from pydantic import SecretStr

from bot.config import LoggingSettings
from bot.core.units import exact_text

_SECRET_KEY = re.compile(r"(secret|token|password|passwd|api[_-]?key|private[_-]?key|signature)", re.I)
REDACTED = "**********"
_SECRET_VALUES: set[str] = set()
MIN_SECRET_LEN = 6


def register_secrets(*values: str | SecretStr | None) -> None:
    """Mask these exact values in every later log line (keys, tokens; short values ignored)."""
    for value in values:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text and len(text) >= MIN_SECRET_LEN:
            _SECRET_VALUES.add(text)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _SECRET_VALUES:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask(v) for v in value)
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Mask values whose key names a credential, every ``SecretStr`` and every registered secret."""
    for key, value in event_dict.items():
        if isinstance(value, SecretStr) or (_SECRET_KEY.search(key) and value not in (None, "")):
            event_dict[key] = REDACTED
        elif _SECRET_VALUES:
            event_dict[key] = _mask(value)
    return event_dict


def _plain(value: Any) -> Any:
    """JSON fallback: a Decimal in fixed-point notation ("0E-8" -> "0"), anything else as str."""
    if isinstance(value, Decimal):
        return exact_text(value)
    return str(value)


def _json_dumps(obj: Any, **kwargs: Any) -> str:
    try:
        import orjson

        return orjson.dumps(obj, default=_plain).decode()
    except ImportError:  # pragma: no cover - orjson is optional
        import json

        return json.dumps(obj, default=_plain, **kwargs)


class _LogFile(logging.handlers.RotatingFileHandler):
    """The size-rotated log file, quiet when its disk fails: the standard handler prints a
    traceback to stderr for every line it cannot write, which on a full disk is an error
    storm on top of the journal fault. Here the first failure is reported once, through
    ``report`` (the stderr handler), the lines that follow are counted, and the first line
    written again says how many were lost."""

    def __init__(self, path: Path, *, max_bytes: int, backups: int, report: logging.Handler) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self._report = report
        self._failed = False
        self.failing = False
        self.lost = 0

    def emit(self, record: logging.LogRecord) -> None:
        self._failed = False
        super().emit(record)
        if self._failed:
            self.lost += 1
        elif self.failing:
            self.failing = False
            self._tell(logging.INFO, "log file writable again: %s (%d lines failed to write)", self.lost)

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed = True
        if self.failing:
            return
        self.failing = True
        self.lost = 0
        error = sys.exc_info()[1]
        self._tell(logging.ERROR, "log file not writable: %s (%s); logging to the stream only", error)

    def _tell(self, level: int, message: str, *args: Any) -> None:
        record = logging.LogRecord(
            "bot.ops.logging", level, __file__, 0, message, (self.baseFilename, *args), None
        )
        self._report.handle(record)


def configure_logging(settings: LoggingSettings, *, stream: TextIO | None = None) -> None:
    """Configure structlog + stdlib logging once per process (idempotent)."""
    stream = stream if stream is not None else sys.stderr
    use_console = settings.format == "console" or (settings.format == "auto" and stream.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    json_renderer = structlog.processors.JSONRenderer(serializer=_json_dumps)
    console_renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    handler: logging.Handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_secrets,  # again: tracebacks are rendered only now
                console_renderer if use_console else json_renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    root.addHandler(handler)
    if settings.file is not None:
        path = Path(settings.file)
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = _LogFile(path, max_bytes=settings.max_bytes, backups=settings.backups, report=handler)
        file_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    redact_secrets,
                    json_renderer,
                ],
                foreign_pre_chain=shared,
            )
        )
        root.addHandler(file_handler)
    root.setLevel(settings.level.upper())
    # third-party chatter stays at warning unless we are debugging
    for noisy in ("websockets", "aiohttp", "ccxt", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if settings.level == "debug" else logging.WARNING)
