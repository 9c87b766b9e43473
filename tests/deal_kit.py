"""Builders for deal-desk tests: a smaller copy of config/abc.toml (Binance and Bybit + the perp)
with a compressed calendar short enough to run the whole lifecycle in seconds, and a copy of
the deal file with chosen strikes and loan convention; readers of the desk's journal."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot.paper.records import NoteRecord, TransferRecord
from bot.store.journal import Journal

REPO = Path(__file__).resolve().parents[1]
ABC = REPO / "config" / "abc.toml"
DEAL = REPO / "config" / "deals" / "abc.toml"


LOAN = 600_000
"""Tokens lent in the tests' deal: small enough for the thin synthetic books to absorb the sale, the
buy-back and the unwind within a minute or so of market time each, as IOC slices take each displayed
level once (the worked example lends 3,000,000)."""
POOL = 200_000


def write_deal(
    tmp_path: Path,
    *,
    strikes: tuple[str, str, str] = ("1.25", "1.50", "2.00"),
    loan_delta: str = "usd_debt",
    loan: int = LOAN,
    pool: int = POOL,
) -> Path:
    text = DEAL.read_text()
    text = text.replace("tokens = 3_000_000", f"tokens = {loan}").replace(
        "size = 1_000_000", f"size = {pool}"
    )
    for old, new in zip(("1.25", "1.50", "2.00"), strikes, strict=True):
        text = text.replace(f'strike = "{old}"', f'strike = "{new}"')
    text = text.replace('loan_delta = "usd_debt"', f'loan_delta = "{loan_delta}"')
    path = tmp_path / "deal.toml"
    path.write_text(text)
    return path


def write_config(
    tmp_path: Path,
    deal: Path,
    *,
    term_s: float = 60,
    sale_window_s: float = 30,
    windows_s: float = 10,
    extra: str = "",
    sale_tokens: str | None = None,
    band: float = 5000.0,
    venues: tuple[str, ...] = ("abc_binance", "abc_bybit"),
) -> Path:
    text = ABC.read_text()
    for name in ("abc_binance", "abc_bybit", "abc_bitget"):
        if name not in venues:
            text = re.sub(rf"\[engines\.{name}\].*?\n\n", "", text, flags=re.S)
            text = re.sub(rf"\[obligations\.engines\.{name}\].*?\n\n", "", text, flags=re.S)
    text = text.replace('data_dir = "data/abc"', f'data_dir = "{tmp_path / "data"}"')
    text = re.sub(r'^file = "deals/abc.toml".*$', f'file = "{deal}"', text, count=1, flags=re.M)
    text = re.sub(r"term_s = \d+", f"term_s = {term_s}", text)
    text = re.sub(
        r"(\[deal\.sale\][^\[]*?)window_s = \d+", rf"\g<1>window_s = {sale_window_s}", text, flags=re.S
    )
    for key in ("sell_window_s", "return_window_s", "unwind_window_s"):
        text = re.sub(rf"{key} = \d+", f"{key} = {windows_s}", text)
    text = text.replace("band = 50000.0", f"band = {band}")  # the tests' hedge band: tight
    if sale_tokens is not None:  # a sale a thin synthetic book absorbs within a short window
        text = text.replace("[deal.sale]", f'[deal.sale]\ntokens = "{sale_tokens}"', 1)
    text += f'\n[quoting]\nstrategies_dir = "{REPO / "config" / "strategies"}"\n' + extra
    path = tmp_path / "abc.toml"
    path.write_text(text)
    return path


def notes(run_dir: Path, kind: str | None = None, name: str = "deal") -> list[dict[str, Any]]:
    """The desk's notes in journal order: each payload with its note kind under ``"_note"``."""
    with Journal.open(run_dir / "deal" / f"{name}-hedge.sqlite", readonly=True) as journal:
        return [
            {**r.payload, "_note": r.kind}
            for _, _, _, r in journal.records()
            if isinstance(r, NoteRecord) and (kind is None or r.kind == kind)
        ]


def transfers(path: Path) -> list[TransferRecord]:
    with Journal.open(path, readonly=True) as journal:
        return [r for _, _, _, r in journal.records() if isinstance(r, TransferRecord)]
