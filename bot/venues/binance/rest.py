"""Binance REST calls the market-data adapter makes (depth snapshots), with errors typed.

Throttling and retries are the caller's; this module only turns one HTTP exchange into
a body or a :class:`SnapshotHttpError` (status, Binance's error text, ``Retry-After``).
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp


class SnapshotHttpError(Exception):
    """A REST depth request answered with a non-200 status."""

    def __init__(self, status: int, body: bytes, retry_after_s: float | None) -> None:
        text = body[:200].decode(errors="replace")
        super().__init__(f"HTTP {status}: {text}")
        self.status = status
        self.retry_after_s = retry_after_s


async def get_depth(session: aiohttp.ClientSession, url: str, params: Mapping[str, str]) -> bytes:
    """GET a depth snapshot body; non-200 answers raise :class:`SnapshotHttpError`.

    Network failures surface as ``aiohttp.ClientError`` / ``TimeoutError`` / ``OSError``.
    """
    async with session.get(url, params=dict(params)) as response:
        body = await response.read()
        if response.status != 200:
            raise SnapshotHttpError(response.status, body, _retry_after(response.headers.get("Retry-After")))
    return body


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
