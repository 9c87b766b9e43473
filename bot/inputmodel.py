"""The base of every model a user writes: config sections, strategy profiles, deal files.

:class:`InputModel` refuses unknown keys and, for every number anywhere in a model
(fields, list items, dict values), anything that cannot be meant:

- not finite: ``nan``, ``inf`` (TOML has both), or a decimal such as ``"1e400"``;
- a magnitude above :data:`MAX_MAGNITUDE` (integers: above :data:`MAX_INT`, what a
  64-bit integer holds) -- no setting of mmbot is meaningful there, and such values
  overflow later (nanosecond clocks, SQLite, numpy);
- a decimal with more than :data:`MAX_DECIMAL_PLACES` places (exact money must fit);
- for a duration -- a field whose name ends in ``_s`` (seconds) or ``_ms`` -- more than
  :data:`MAX_SECONDS` (ten years), which no horizon, timeout or interval needs and
  which would overflow when turned into integer nanoseconds.

Hosts and URLs are checked here too (:func:`check_host`, :func:`check_url`): an
address that does not parse or a port outside 1-65535 is a settings error, not a
connection error in a retry loop.

Fields still carry their own, tighter ranges (``Field(gt=..., le=...)``); this is the
floor under all of them, so a new field cannot forget it. Failures name the field
(and the list index or dict key) through pydantic's error locations.
"""

from __future__ import annotations

import ipaddress
import math
import re
import urllib.parse
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, field_validator

MAX_MAGNITUDE = 1e15
MAX_INT = 2**63 - 1
MAX_DECIMAL_PLACES = 18
MAX_SECONDS = 315_576_000.0
"""Ten years of seconds."""


def check_number(value: Any, name: str = "") -> None:
    """Raise ValueError if ``value`` (a number, or a list/dict of them) is not sane."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            try:
                check_number(item, name)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            try:
                check_number(item, name)
            except ValueError as exc:
                raise ValueError(f"[{index}]: {exc}") from None
        return
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ValueError(f"{value} is out of range (at most {MAX_INT} in magnitude)")
        magnitude = float(abs(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a finite number")
        magnitude = abs(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite number")
        if value and value.adjusted() > 15:
            raise ValueError(f"{value} is out of range (at most {MAX_MAGNITUDE:g} in magnitude)")
        exponent = value.normalize().as_tuple().exponent if value else 0
        if isinstance(exponent, int) and exponent < -MAX_DECIMAL_PLACES:
            raise ValueError(f"{value} has more than {MAX_DECIMAL_PLACES} decimal places")
        magnitude = float(abs(value))
    else:
        return
    if magnitude > MAX_MAGNITUDE:
        raise ValueError(f"{value} is out of range (at most {MAX_MAGNITUDE:g} in magnitude)")
    if name.endswith("_s") and magnitude > MAX_SECONDS:
        raise ValueError(f"{value} seconds is more than ten years ({MAX_SECONDS:g} s)")
    if name.endswith("_ms") and magnitude > MAX_SECONDS * 1000:
        raise ValueError(f"{value} ms is more than ten years")


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def check_host(host: str) -> str:
    """``host`` if it is an IPv4/IPv6 address or a DNS name, else ValueError saying why."""
    if not host:
        raise ValueError("the host is empty")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"host {host!r} is not an IPv6 address") from None
    elif all(part.isdigit() for part in host.split(".")):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"host {host!r} is not a valid IPv4 address") from None
    elif len(host) > 253 or not all(_HOST_LABEL.match(label) for label in host.rstrip(".").split(".")):
        raise ValueError(f"host {host!r} is not a valid host name or address")
    return host


def check_url(url: str, schemes: tuple[str, ...], *, templates: bool = False) -> str:
    """``url`` if it has one of ``schemes``, a host that parses and a port in 1-65535 (or
    none), else ValueError saying why. ``templates``: a host with ``{placeholders}`` (ccxt's
    ``https://api.{hostname}``) is left to the library that fills it in."""
    if any(ch.isspace() for ch in url):
        raise ValueError(f"{url!r} contains white space")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed [IPv6 bracket
        raise ValueError(f"{url!r}: {exc}") from None
    if parts.scheme not in schemes:
        raise ValueError(f"{url!r} must start with " + " or ".join(f"{s}://" for s in schemes))
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r}: the port is not a number in 1-65535") from None
    if port == 0:
        raise ValueError(f"{url!r}: the port is not a number in 1-65535")
    host = parts.hostname or ""
    if templates and "{" in host:
        return url
    try:
        check_host(host)
    except ValueError as exc:
        raise ValueError(f"{url!r}: {exc}") from None
    return url


WsUrl = Annotated[str, AfterValidator(lambda url: check_url(url, ("ws", "wss")))]
"""A websocket URL: ``ws://`` or ``wss://``, a host that parses, a port in 1-65535."""
HttpUrl = Annotated[str, AfterValidator(lambda url: check_url(url, ("http", "https")))]
"""A REST URL: ``http://`` or ``https://``, a host that parses, a port in 1-65535."""
Host = Annotated[str, AfterValidator(check_host)]
"""An IPv4/IPv6 address or a DNS name."""


class InputModel(BaseModel):
    """Strict, frozen model of user input with sane numbers (see the module doc)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _sane_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, BaseModel):
            check_number(value, info.field_name or "")
        return value
