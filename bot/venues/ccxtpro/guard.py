"""Keep ccxt's websocket receive loops alive through bad frames.

ccxt 4.5's websocket ``Client`` decodes each frame with no guard (``json.loads``
straight in its receive-loop callback): a malformed frame raises inside that
callback, asyncio logs "Exception in callback", and the connection's receive loop
silently stops -- the book then never updates again until a ping timeout minutes
later. The same happens when an exchange handler raises on a well-formed but
unexpected frame. :func:`guard_clients` wraps every client the exchange creates so
such a frame is reported to a callback and skipped; the loop carries on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

BadFrame = Callable[[str, Any, Exception], None]
"""``(url, message, exception)``: called for each skipped frame."""


def guard_clients(exchange: Any, on_bad_frame: BadFrame) -> None:
    """Wrap ``handle_message`` of each websocket client ``exchange.client(url)`` returns."""
    original = exchange.client

    def client(url: str) -> Any:
        ws_client = original(url)
        if not getattr(ws_client, "_mmbot_guarded", False):
            inner = ws_client.handle_message

            def guarded(message: Any) -> None:
                try:
                    inner(message)
                except Exception as exc:
                    on_bad_frame(url, message, exc)

            ws_client.handle_message = guarded
            ws_client._mmbot_guarded = True
        return ws_client

    exchange.client = client
