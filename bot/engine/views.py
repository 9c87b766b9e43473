"""What a person reads about a running engine: ``/status`` entries, the run summary and
the terminal progress line, in human units.

Prices and sizes are decimal strings in the instrument's own precision (the integer
ticks/lots stay alongside as ``*_ticks`` / ``*_lots``), money is exact fixed-point text
(see :mod:`bot.core.units`), floats are rounded to 12 significant digits. Nothing here
changes state: each function reads a :class:`~bot.engine.trading.QuotingPipeline`
(and its hedger) at the engine's clock.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from bot.core.events import NS_PER_S
from bot.core.instrument import InstrumentSpec
from bot.core.units import (
    base_text,
    exact_text,
    money_text,
    price_text,
    size_text,
    tidy,
)
from bot.engine.hedging import HedgePipeline
from bot.engine.trading import QuotingPipeline
from bot.paper.ledger import Ledger
from bot.risk.triggers import Trigger
from bot.risk.view import human_risk_status

PNL_KEYS = ("spread_capture", "rebates", "fees", "inventory", "funding", "total")


def quote_view(spec: InstrumentSpec, price: int, size: int) -> dict[str, Any]:
    return {
        "price": price_text(spec, price),
        "size": size_text(spec, size),
        "price_ticks": price,
        "size_lots": size,
    }


def order_view(spec: InstrumentSpec, order: dict[str, Any]) -> dict[str, Any]:
    """An order manager entry (ticks/lots) with price and sizes as text."""
    out = dict(order)
    if isinstance(order.get("price"), int):
        out["price"] = price_text(spec, order["price"])
        out["price_ticks"] = order["price"]
    for key in ("size", "remaining"):
        if isinstance(order.get(key), int):
            out[key] = size_text(spec, order[key])
            out[f"{key}_lots"] = order[key]
    return out


def sample_view(spec: InstrumentSpec, sample: dict[str, Any]) -> dict[str, Any]:
    """A journaled sample (floats in price/base/quote units) as text at the right precision."""
    out: dict[str, Any] = {}
    for key, value in sample.items():
        if value is None or isinstance(value, str):
            out[key] = value
        elif key in ("best_bid", "best_ask", "bid_quote", "ask_quote"):
            out[key] = price_text(spec, round(Decimal(repr(value)) / spec.tick_size))
        elif key == "mid":
            out[key] = price_text(spec, float(Decimal(repr(value)) / spec.tick_size))
        elif key in ("inventory", "net_delta") and isinstance(value, float):
            out[key] = base_text(spec, value)
        elif key == "equity":
            out[key] = money_text(spec, value)
        elif key == "pnl" and isinstance(value, dict):
            out[key] = {name: money_text(spec, amount) for name, amount in value.items()}
        else:
            out[key] = tidy(value)
    return out


def warmup_left_s(pipeline: QuotingPipeline) -> float | None:
    """Seconds until the volatility warm-up is over (None once it is, or when not warming up)."""
    if Trigger.WARMUP not in pipeline.risk.board.active:
        return None
    horizons = [pipeline.risk.settings.regimes.medium_horizon_s]
    sigma_horizon = pipeline.quoter.profile.sigma_horizon_s()
    if sigma_horizon is not None:
        horizons.append(sigma_horizon)
    left = max(pipeline.estimators.warmup_left_s(h) for h in horizons)
    return None if math.isnan(left) else round(left, 1)


def time_to_first_quote_s(pipeline: QuotingPipeline, start_ns: int | None) -> float | None:
    first = pipeline.first_quote_ts
    if first is None or start_ns is None:
        return None
    return round((first - start_ns) / NS_PER_S, 3)


def engine_status(
    name: str, pipeline: QuotingPipeline | None, hedger: HedgePipeline | None, now: int
) -> dict[str, Any]:
    """One engine's ``/status`` entry."""
    out: dict[str, Any] = {"engine": name}
    if pipeline is not None:
        spec = pipeline.spec
        out["strategy"] = pipeline.quoter.name
        out["fills"] = pipeline.fills
        out["position"] = size_text(spec, pipeline.position)
        out["position_lots"] = pipeline.position
        out["risk"] = human_risk_status(spec, pipeline.risk.status())
        out["warmup_left_s"] = warmup_left_s(pipeline)
        out["quotes"] = {
            "bids": [quote_view(spec, q.price, q.size) for q in pipeline.desired.bids],
            "asks": [quote_view(spec, q.price, q.size) for q in pipeline.desired.asks],
            "note": pipeline.desired.note,
        }
        out["open_orders"] = [order_view(spec, o) for o in pipeline.order_manager.open_orders()]
        out["orders_sent"] = dict(pipeline.sent)
        out["rejects"] = dict(pipeline.rejects)
        out["sample"] = sample_view(spec, pipeline.sample(now))
    if hedger is not None:
        out["hedge"] = tidy(hedger.status(now))
    return out


def ledger_balances(
    ledger: Ledger, specs: list[InstrumentSpec], balances: dict[str, Decimal]
) -> dict[str, str]:
    """Balances per asset at the precision of the instrument trading it (quote: money)."""
    base_specs = {spec.base: spec for spec in specs}
    quote_spec = specs[0] if specs else None
    out = {}
    for asset, amount in sorted(balances.items()):
        spec = base_specs.get(asset)
        if spec is not None:
            out[asset] = base_text(spec, amount)
        elif asset == ledger.quote and quote_spec is not None:
            out[asset] = money_text(quote_spec, amount)
        else:
            out[asset] = exact_text(amount)
    return out


def engine_summary(
    name: str,
    events: int,
    pipeline: QuotingPipeline | None,
    ledger: Ledger | None,
    open_orders: int,
    hedger: HedgePipeline | None,
    *,
    start_ns: int | None,
    now: int,
) -> dict[str, Any]:
    """One engine's part of the ``mmbot run`` summary (JSON-able, human units)."""
    out: dict[str, Any] = {"engine": name, "events": events}
    if pipeline is None or ledger is None:
        return out
    spec = pipeline.spec
    pnl = ledger.attribution()
    specs = [pipeline.spec]
    out.update(
        strategy=pipeline.quoter.name,
        regime=pipeline.decision.regime.value,
        orders={
            **pipeline.order_manager.stats.as_dict(),
            **{f"{k}_sent": v for k, v in pipeline.sent.items()},
        },
        rejects=dict(sorted(pipeline.rejects.items(), key=lambda item: -item[1])),
        fills=pipeline.fills,
        vetoes=pipeline.vetoes,
        time_to_first_quote_s=time_to_first_quote_s(pipeline, start_ns),
        warmup_left_s=warmup_left_s(pipeline),
        position=size_text(spec, pipeline.position),
        base=spec.base,
        quote=spec.quote,
        starting_balances=ledger_balances(ledger, specs, ledger.starting_balances),
        balances=ledger_balances(ledger, specs, ledger.balances),
        pnl={k: money_text(spec, getattr(pnl, k)) for k in PNL_KEYS},
        pnl_exact={k: exact_text(getattr(pnl, k)) for k in PNL_KEYS},
        open_orders=open_orders,
    )
    if hedger is not None:
        out["hedge"] = tidy(hedger.status(now))
    return out


def progress_view(pipeline: QuotingPipeline, ledger: Ledger, start_ns: int | None) -> dict[str, Any]:
    """The numbers of the terminal progress line / the ``progress`` log record of one engine."""
    spec = pipeline.spec
    risk = pipeline.risk
    active = [t.value for t in risk.board.active]
    return {
        "engine": pipeline.engine.name,
        "instrument": pipeline.instrument,
        "regime": pipeline.decision.regime.value,
        "warmup_left_s": warmup_left_s(pipeline),
        "halt_reasons": active if pipeline.decision.pull_all else [],
        "book_valid": pipeline.state.sync.valid,
        "quotes_bid": sum(1 for o in pipeline.order_manager.orders.values() if o.side > 0),
        "quotes_ask": sum(1 for o in pipeline.order_manager.orders.values() if o.side < 0),
        "fills": pipeline.fills,
        "position": size_text(spec, pipeline.position),
        "base": spec.base,
        "pnl": money_text(spec, ledger.attribution().total, signed=True),
        "quote": spec.quote,
        "rejects": sum(pipeline.rejects.values()),
        "time_to_first_quote_s": time_to_first_quote_s(pipeline, start_ns),
    }


def progress_line(views: list[dict[str, Any]], elapsed_s: float | None = None) -> str:
    """One compact line for a terminal: regime, warm-up left, quotes live, fills, position, PnL."""
    parts = []
    for view in views:
        state = view["regime"].upper()
        if view["warmup_left_s"] is not None:
            state += f" warm-up {view['warmup_left_s']:.0f}s left"
        elif view["halt_reasons"]:
            state += " (" + ", ".join(view["halt_reasons"][:2]) + ")"
        if not view["book_valid"]:
            state += " book syncing"
        parts.append(
            f"{view['engine']} {state} | quotes {view['quotes_bid']} bid / {view['quotes_ask']} ask"
            f" | fills {view['fills']} | pos {view['position']} {view['base']}"
            f" | PnL {view['pnl']} {view['quote']}"
            + (f" | rejects {view['rejects']}" if view["rejects"] else "")
        )
    prefix = f"[{_clock(elapsed_s)}] " if elapsed_s is not None else ""
    return prefix + "  ||  ".join(parts)


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
