"""Binance REST calls the market-data adapter makes (depth snapshots, the weight limit), with
errors typed.

Throttling and retries are the caller's; this module only turns one HTTP exchange into
a body or a :class:`SnapshotHttpError` (status, Binance's error text, ``Retry-After``),
plus the venue's count of the weight used this minute (``X-MBX-USED-WEIGHT-1M``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec

USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
INTERVAL_S = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}


@dataclass(frozen=True, slots=True)
class WeightLimit:
    """The venue's ``REQUEST_WEIGHT`` rate limit: ``limit`` units per ``window_s``."""

    limit: int
    window_s: float


class SnapshotHttpError(Exception):
    """A REST depth request answered with a non-200 status."""

    def __init__(self, status: int, body: bytes, retry_after_s: float | None) -> None:
        text = body[:200].decode(errors="replace")
        super().__init__(f"HTTP {status}: {text}")
        self.status = status
        self.retry_after_s = retry_after_s


async def get_depth(
    session: aiohttp.ClientSession, url: str, params: Mapping[str, str]
) -> tuple[bytes, int | None]:
    """GET a depth snapshot: (body, weight used this minute per the venue or None); non-200
    answers raise :class:`SnapshotHttpError`.

    Network failures surface as ``aiohttp.ClientError`` / ``TimeoutError`` / ``OSError``.
    """
    async with session.get(url, params=dict(params)) as response:
        body = await response.read()
        if response.status != 200:
            raise SnapshotHttpError(response.status, body, _retry_after(response.headers.get("Retry-After")))
        return body, _int(response.headers.get(USED_WEIGHT_HEADER))


async def get_weight_limit(session: aiohttp.ClientSession, url: str) -> WeightLimit | None:
    """The ``REQUEST_WEIGHT`` limit from ``exchangeInfo.rateLimits`` (None if it has none).

    Failures raise like :func:`get_depth`; an unreadable body raises ``ValueError``."""
    async with session.get(url) as response:
        body = await response.read()
        if response.status != 200:
            raise SnapshotHttpError(response.status, body, _retry_after(response.headers.get("Retry-After")))
    try:
        info: Any = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ValueError(f"exchangeInfo is not JSON: {exc}") from None
    return parse_weight_limit(info)


def parse_weight_limit(info: Any) -> WeightLimit | None:
    """``{"rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
    "intervalNum": 1, "limit": 6000}, ...]}`` -> WeightLimit(6000, 60.0); the tightest per
    second if several windows are listed."""
    best: WeightLimit | None = None
    for entry in (info.get("rateLimits") or []) if isinstance(info, dict) else []:
        if not isinstance(entry, dict) or entry.get("rateLimitType") != "REQUEST_WEIGHT":
            continue
        limit, unit, count = (
            entry.get("limit"),
            INTERVAL_S.get(str(entry.get("interval"))),
            entry.get("intervalNum", 1),
        )
        if (
            not isinstance(limit, int)
            or limit <= 0
            or unit is None
            or not isinstance(count, int)
            or count <= 0
        ):
            continue
        candidate = WeightLimit(limit, float(unit * count))
        if best is None or candidate.limit / candidate.window_s < best.limit / best.window_s:
            best = candidate
    return best


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
