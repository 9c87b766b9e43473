"""Test glue for Bitget: instrument specs, the 2022 cryptofeed recording read independently
(json + Decimal + a bitwise CRC-32 written out here, no bot/ code), and frame builders in
the shape of Bitget's v2 documentation."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.core.instrument import InstrumentKind, InstrumentSpec

DATA = Path(__file__).resolve().parent / "data"
BITGET_FILE = DATA / "BITGET.ws.2.0"

DASH = InstrumentSpec(
    venue="bitget_usdtm",
    symbol="DASHUSDT",
    kind=InstrumentKind.PERP,
    base="DASH",
    quote="USDT",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.01"),
    qty_step=Decimal("0.01"),
    min_qty=Decimal("0.01"),
)
UNI = InstrumentSpec(
    venue="bitget_usdtm",
    symbol="UNIUSDT",
    kind=InstrumentKind.PERP,
    base="UNI",
    quote="USDT",
    tick_size=Decimal("0.001"),
    lot_size=Decimal("1"),
    qty_step=Decimal("1"),
    min_qty=Decimal("1"),
)
BTC_SPOT = InstrumentSpec(
    venue="bitget_spot",
    symbol="BTCUSDT",
    kind=InstrumentKind.SPOT,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.000001"),
    qty_step=Decimal("0.000001"),
)
RECORDED = {spec.symbol: spec for spec in (DASH, UNI)}

DecimalBook = tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]


def crc32_bitwise(data: bytes) -> int:
    """CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) bit by bit, as a signed int32."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xEDB88320 if crc & 1 else crc >> 1
    crc ^= 0xFFFFFFFF
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def reference_checksum(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    """Bitget's documented construction: best 25 per side, bid1:ask1:bid2:ask2..., signed CRC-32."""
    fields: list[str] = []
    for i in range(25):
        if i < len(bids):
            fields.append(f"{bids[i][0]}:{bids[i][1]}")
        if i < len(asks):
            fields.append(f"{asks[i][0]}:{asks[i][1]}")
    return crc32_bitwise(":".join(fields).encode())


def recorded_messages() -> list[tuple[float, dict[str, Any]]]:
    """Every pushed message of the recording with its receive time (acks and requests left out)."""
    out = []
    for line in BITGET_FILE.read_text().splitlines():
        if not line.strip() or " <-> " in line or " <- " in line:
            continue
        stamp, _, payload = line.partition(": ")
        message = json.loads(payload)
        if "event" not in message:
            out.append((float(stamp), message))
    return out


def v2_frame(message: dict[str, Any]) -> str:
    """A recorded v1 push re-addressed to v2 (``instType`` mc -> USDT-FUTURES), data kept."""
    arg = dict(message["arg"])
    arg["instType"] = {"mc": "USDT-FUTURES", "sp": "SPOT"}[arg["instType"]]
    return json.dumps({**message, "arg": arg}, separators=(",", ":"))


class NaiveBitget:
    """The recording replayed per instrument with json + Decimal; every checksum checked on text."""

    def __init__(self) -> None:
        text_books: dict[str, tuple[dict[Decimal, tuple[str, str]], dict[Decimal, tuple[str, str]]]] = {}
        self.checksums_verified = 0
        self.updates: dict[str, int] = {}
        self.trades: dict[str, int] = {}
        for _, message in recorded_messages():
            arg = message["arg"]
            inst = arg["instId"]
            if arg["channel"] == "trade" and message["action"] == "update":
                self.trades[inst] = self.trades.get(inst, 0) + len(message["data"])
            if arg["channel"] != "books":
                continue
            (data,) = message["data"]
            if message["action"] == "snapshot":
                text_books[inst] = ({}, {})
            else:
                self.updates[inst] = self.updates.get(inst, 0) + 1
            bids, asks = text_books[inst]
            for side, levels in ((bids, data["bids"]), (asks, data["asks"])):
                for price, size in levels:
                    if Decimal(size):
                        side[Decimal(price)] = (price, size)
                    else:
                        side.pop(Decimal(price), None)
            best_bids = [bids[p] for p in sorted(bids, reverse=True)]
            best_asks = [asks[p] for p in sorted(asks)]
            assert reference_checksum(best_bids, best_asks) == data["checksum"], "recorded checksum"
            self.checksums_verified += 1
            assert max(bids) < min(asks)
        self.books: dict[str, DecimalBook] = {
            inst: ({p: Decimal(q) for p, (_, q) in b.items()}, {p: Decimal(q) for p, (_, q) in a.items()})
            for inst, (b, a) in text_books.items()
        }


def book_frame(
    action: str,
    bids: list[list[str]],
    asks: list[list[str]],
    *,
    inst: str = "BTCUSDT",
    inst_type: str = "SPOT",
    channel: str = "books",
    seq: int | str | None = None,
    pseq: int | None = None,
    checksum: int = 0,
) -> str:
    """A ``books*`` push as Bitget's v2 docs show it."""
    data: dict[str, Any] = {"asks": asks, "bids": bids, "checksum": checksum}
    if pseq is not None:
        data["pseq"] = pseq
    if seq is not None:
        data["seq"] = seq
    data["ts"] = "1695710946294"
    arg = {"instType": inst_type, "channel": channel, "instId": inst}
    return json.dumps({"action": action, "arg": arg, "data": [data], "ts": 1695710946294})
