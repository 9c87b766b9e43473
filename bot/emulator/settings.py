"""Settings of the in-process emulator that ``mmbot run --offline`` starts (``[offline]``),
and the real recordings bundled with the package that it replays by default.
Re-exported by :mod:`bot.config`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from bot.venues.settings import _Section

BUNDLED_REPLAY_DIR = Path(__file__).resolve().parent / "data"


class OfflineSettings(_Section):
    replay: list[Path] = Field(
        default_factory=list,
        description="Recordings the in-process emulator replays for `mmbot run --offline`; "
        "empty = the bundled real Binance recordings.",
    )
    speed: float = Field(1.0, gt=0, le=10_000, description="Replay speed (1 = recorded pace).")
    host: str = Field("127.0.0.1", description="Emulator bind address.")
    port: int = Field(0, ge=0, le=65535, description="Emulator port; 0 = any free port.")
    loop: bool = Field(True, description="Restart the replay when it ends (connections drop, books resync).")


def bundled_replay_files() -> list[Path]:
    """The real Binance recordings shipped with the package, in replay order."""
    return sorted(BUNDLED_REPLAY_DIR.glob("binance_*.gz"))
