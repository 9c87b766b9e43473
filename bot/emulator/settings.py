"""Settings of the in-process emulator that ``mmbot run --offline`` starts (``[offline]``),
and the real recordings bundled with the package that it replays by default.
Re-exported by :mod:`bot.config`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from bot.emulator.scenarios import SCENARIOS
from bot.inputmodel import Host
from bot.venues.settings import _Section

BUNDLED_REPLAY_DIR = Path(__file__).resolve().parent / "data"


class OfflineSettings(_Section):
    replay: list[Path] = Field(
        default_factory=list,
        description="Recordings the in-process emulator replays for `mmbot run --offline`; "
        "empty = the bundled real Binance recordings.",
    )
    speed: float = Field(1.0, gt=0, le=10_000, description="Replay speed (1 = recorded pace).")
    host: Host = Field("127.0.0.1", description="Emulator bind address (an IP address or host name).")
    port: int = Field(0, ge=0, le=65535, description="Emulator port; 0 = any free port.")
    loop: bool = Field(True, description="Restart the replay when it ends (connections drop, books resync).")
    scenario: str | None = Field(
        None,
        description="Serve a synthetic market instead of recordings: every configured instrument "
        "(specs from the shipped market cache) renders this scenario, e.g. abc_launch for the ABC "
        "token on every venue. Unset = replay.",
    )
    seed: int = Field(1, ge=0, description="Seed of the synthetic market (scenario only).")

    @model_validator(mode="after")
    def _scenario(self) -> OfflineSettings:
        if self.scenario is not None:
            if self.scenario not in SCENARIOS:
                raise ValueError(
                    f"scenario {self.scenario!r} is unknown; scenarios: {', '.join(sorted(SCENARIOS))}"
                )
            if self.replay:
                raise ValueError("give either replay files or a scenario, not both")
        return self


def bundled_replay_files() -> list[Path]:
    """The real Binance recordings shipped with the package, in replay order."""
    return sorted(BUNDLED_REPLAY_DIR.glob("binance_*.gz"))
