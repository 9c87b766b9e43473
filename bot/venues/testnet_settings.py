"""Settings of optional testnet execution: ``execution = "testnet"`` and the ``[testnet]`` section.

With ``execution = "testnet"`` every order command the quoting pipeline sends to the
paper exchange is also sent to the exchange's testnet (Binance spot: ccxt sandbox mode,
``testnet.binance.vision``; Binance USD-M: ccxt demo trading, ``demo-fapi.binance.com``)
and the testnet's order states are reconciled against the paper ledger.

API keys are secrets: they may come only from the environment
(``MMBOT_TESTNET__BINANCE_SPOT__API_KEY`` / ``MMBOT_TESTNET__BINANCE_SPOT__API_SECRET``,
likewise ``..._BINANCE_USDM__...``) or from secret files (``api_key_file`` /
``api_secret_file``, e.g. Docker secrets under ``/run/secrets``); a config file that
contains a key is refused (see ``bot.config.SECRET_FIELDS``). They are held as
``SecretStr`` (masked in every repr and dump) and read out only when the ccxt client is
built.

Pure data: no I/O besides reading a secret file when asked for the credentials.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from bot.errors import InputError
from bot.inputmodel import HttpUrl, InputModel

TESTNET_VENUES = ("binance_spot", "binance_usdm")


class _Section(InputModel):
    pass


def env_name(venue: str, field: str) -> str:
    """The environment variable that sets ``testnet.<venue>.<field>``."""
    return f"MMBOT_TESTNET__{venue.upper()}__{field.upper()}"


class TestnetVenueSettings(_Section):
    """Credentials and endpoint of one venue's testnet account."""

    __test__ = False  # not a pytest test class despite the name

    api_key: SecretStr | None = Field(
        None, description="Testnet API key. Environment only: MMBOT_TESTNET__<VENUE>__API_KEY."
    )
    api_secret: SecretStr | None = Field(
        None, description="Testnet API secret. Environment only: MMBOT_TESTNET__<VENUE>__API_SECRET."
    )
    api_key_file: Path | None = Field(
        None, description="Read the API key from this file instead (Docker/K8s secrets)."
    )
    api_secret_file: Path | None = Field(None, description="Read the API secret from this file instead.")
    rest_url: HttpUrl | None = Field(
        None,
        description="REST base URL override (e.g. a local test double). Only a testnet/demo host or a "
        "loopback address is accepted: anything else is refused at start. Unset = ccxt's testnet URLs.",
    )

    def credentials(self, venue: str) -> tuple[SecretStr, SecretStr]:
        """(key, secret) from the environment or the secret files; InputError naming what is missing."""
        key = self._secret(venue, "api_key", self.api_key, self.api_key_file)
        secret = self._secret(venue, "api_secret", self.api_secret, self.api_secret_file)
        return key, secret

    @staticmethod
    def _secret(venue: str, field: str, value: SecretStr | None, path: Path | None) -> SecretStr:
        if value is not None and value.get_secret_value().strip():
            return SecretStr(value.get_secret_value().strip())
        if path is not None:
            try:
                text = path.read_text().strip()
            except OSError as exc:
                raise InputError(
                    f"testnet.{venue}.{field}_file: cannot read {path}: {exc.strerror or exc}"
                ) from None
            if not text:
                raise InputError(f"testnet.{venue}.{field}_file: {path} is empty")
            return SecretStr(text)
        raise InputError(
            f'execution = "testnet" needs a {venue} testnet {field.replace("_", " ")}: set '
            f"{env_name(venue, field)} in the environment or testnet.{venue}.{field}_file "
            "(keys are never read from config files)"
        )


class TestnetSettings(_Section):
    """How orders are mirrored to the testnets and reconciled (``execution = "testnet"``)."""

    __test__ = False

    binance_spot: TestnetVenueSettings = Field(default_factory=TestnetVenueSettings)
    binance_usdm: TestnetVenueSettings = Field(default_factory=TestnetVenueSettings)
    orders_per_second: float = Field(
        5.0,
        gt=0,
        le=50,
        description="Client-side limit on testnet REST calls per second (orders, cancels and "
        "reconciliation queries). Commands queue meanwhile; an order cancelled before it was "
        "sent is never sent.",
    )
    reconcile_interval_s: float = Field(
        5.0, gt=0, le=3600, description="How often testnet order states are fetched and compared."
    )
    settle_grace_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="A testnet order still open this long after its paper order closed is cancelled "
        "on the testnet (the testnet follows the paper ledger).",
    )
    timeout_s: float = Field(10.0, gt=0, le=120, description="Testnet REST request timeout.")
    max_queue: int = Field(
        10_000,
        ge=10,
        le=10_000_000,
        description="Commands waiting for the testnet before the mirror gives up on the backlog "
        "(it then cancels every testnet order of the instrument and reports it).",
    )
    cancel_on_start: bool = Field(
        True, description="Cancel testnet orders of the quoted symbols left over from an earlier run."
    )
    max_reported_differences: int = Field(
        20, ge=1, le=1000, description="Differences listed per reconciliation record (the rest are counted)."
    )

    def for_venue(self, venue: str) -> TestnetVenueSettings:
        if venue not in TESTNET_VENUES:
            raise InputError(f"testnet execution does not support venue {venue!r}")
        settings: TestnetVenueSettings = getattr(self, venue)
        return settings
