"""Building the deal desk from ``[deal]`` and the deal file, and restoring it from its journals.

:func:`build_deal` loads the deal file, finds the quoting engines that trade its token
(each gets a deal account on its venue), sizes the deployment the way ``mmbot deal plan``
does -- the pool's token and quote sides at the loan's reference price, the sale = the
lent tokens neither in the quoting accounts nor in the pool, split across venues by
weight -- opens the deal accounts and the hedge account (restored from
``<data_dir>/deal/*.sqlite``), builds the desk's engine (every venue's spot market and the
perpetual) with the accounts and the desk as handlers, and folds the desk's notes back:
decided steps, programs and their fills, the pool, the options' and loan's books.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from bot.config import ConfigError, Settings
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.core.orders import OrderReport
from bot.engine.deal_accounts import DealAccount, open_account
from bot.engine.deal_desk import DealDesk
from bot.engine.deal_phase import Phase
from bot.engine.deal_pool import PoolVenue
from bot.engine.loop import Engine
from bot.hedge.calendar import DealCalendar
from bot.hedge.deal import Deal, load_deal
from bot.hedge.programs import Program
from bot.paper.records import NoteRecord

if TYPE_CHECKING:
    from bot.engine.assemble import TradingEngine

log = structlog.get_logger("bot.deal.setup")

_ZERO = Decimal(0)


def read_deal(settings: Settings) -> Deal | None:
    """The ``[deal]`` file, validated (a ConfigError names it), or None without a deal."""
    path = settings.deal.file
    if path is None:
        return None
    if not path.is_file():
        raise ConfigError(
            f"deal.file: {path}: file not found (a relative path is looked up next to the config file, "
            "then in the working directory)"
        )
    return load_deal(path, dt.date.min)  # expiry is checked on the deal's own calendar


def deal_engines(settings: Settings, specs: Mapping[str, InstrumentSpec], deal: Deal | None) -> list[str]:
    """The quoting engines whose market is the deal's token against its quote, in config order."""
    if deal is None:
        return []
    names = []
    for name, engine in settings.engines.items():
        spec = specs.get(engine.key)
        if (
            engine.quote
            and spec is not None
            and spec.kind is InstrumentKind.SPOT
            and (spec.base, spec.quote) == (deal.token, deal.quote)
        ):
            names.append(name)
    return names


@dataclass
class DealRun:
    """The desk, its engine and its accounts (what a driver runs and closes)."""

    engine: Engine
    desk: DealDesk
    accounts: list[DealAccount]

    def close(self) -> None:
        """Commit and close the desk's journals (resting hedge orders are cancelled)."""
        for account in self.accounts:
            exchange = account.exchange
            if exchange.failed is None:
                exchange.cancel_all()
                exchange.flush()
            if account.journal is not None:
                account.journal.close()
                account.journal = None

    def status(self) -> dict[str, Any]:
        return self.desk.status()


def _weights(settings: Settings, deal: Deal, names: list[str]) -> dict[str, Decimal]:
    given = settings.deal.sale.venues
    if given:
        return {name: Decimal(given.get(name, 0)) for name in names}
    by_exchange = {cex.exchange: cex.bid_size for cex in deal.cex}
    weights = {name: by_exchange.get(settings.engines[name].venue.split("_", 1)[0], _ZERO) for name in names}
    if not any(weights.values()):
        weights = dict.fromkeys(names, Decimal(1))
    return weights


def _lots(amount: Decimal, lot: Decimal) -> Decimal:
    return (amount // lot) * lot


def build_deal(
    settings: Settings,
    specs: Mapping[str, InstrumentSpec],
    trading: Mapping[str, TradingEngine],
    data_dir: Path,
    *,
    replay: bool = False,
) -> DealRun | None:
    """The deal desk of ``[deal]``, or None when no deal file is configured.

    Raises :class:`ConfigError` for a deal no engine quotes, a perpetual on another token,
    or a deployment larger than the loan."""
    deal_settings = settings.deal
    deal = read_deal(settings)
    if deal is None:
        return None
    assert deal_settings.hedge is not None
    names = [name for name in deal_engines(settings, specs, deal) if name in trading]
    if not names:
        raise ConfigError(
            f"deal.file: {deal_settings.file} is a {deal.token}/{deal.quote} deal, but no quoting engine "
            f"trades {deal.token}{deal.quote} spot"
        )
    reference = deal_settings.reference or names[0]
    if reference not in names:
        raise ConfigError(
            f"deal.reference: engine {reference!r} does not quote {deal.token}/{deal.quote} spot"
        )
    perp = specs.get(deal_settings.hedge.key)
    if perp is None:
        raise ConfigError(f"deal.hedge: no instrument spec for {deal_settings.hedge.key}")
    if perp.kind is not InstrumentKind.PERP or (perp.base, perp.quote) != (deal.token, deal.quote):
        raise ConfigError(
            f"deal.hedge: {perp.key} is a {perp.kind.value} on {perp.base}/{perp.quote}, not a "
            f"{deal.token}/{deal.quote} perpetual"
        )
    spot_of = {name: specs[settings.engines[name].key] for name in names}
    ref_spec = spot_of[reference]
    price = deal.loan.reference_price
    lp_tokens = _lots(sum((pool.size / 2 / price for pool in deal.lp), _ZERO), ref_spec.lot_size)
    lp_quote = sum((pool.size / 2 for pool in deal.lp), _ZERO)
    quoting_tokens = sum(
        (Decimal(settings.paper_for(name).starting_balances.get(deal.token, 0)) for name in names), _ZERO
    )
    held = deal.loan.tokens - quoting_tokens - lp_tokens
    if held < 0:
        raise ConfigError(
            f"deal: the quoting engines' starting {deal.token} ({quoting_tokens}) plus the pool's token "
            f"side ({lp_tokens}) exceed the loan ({deal.loan.tokens})"
        )
    sale = held if deal_settings.sale.tokens is None else deal_settings.sale.tokens
    if sale > held:
        raise ConfigError(
            f"deal.sale.tokens: {sale} is more than the lent tokens left after the quoting engines and the "
            f"pool ({held} {deal.token})"
        )
    treasury_quote = Decimal(deal_settings.treasury.get(deal.quote, 0))
    if lp_quote > treasury_quote:
        raise ConfigError(
            f"deal.treasury: {treasury_quote} {deal.quote} cannot fund the pool's quote side ({lp_quote})"
        )
    weights = _weights(settings, deal, names)
    total_weight = sum(weights.values(), _ZERO)

    def split(amount: Decimal) -> dict[str, Decimal]:
        parts = {n: _lots(amount * weights[n] / total_weight, spot_of[n].lot_size) for n in names}
        parts[reference] += amount - sum(parts.values(), _ZERO)
        return parts

    holdings = split(held)  # every lent token not quoting nor pooled sits in a deal account ...
    allotments = split(sale)  # ... and these are sold at the start

    name = deal_settings.name
    desk_ref: list[DealDesk] = []
    accounts: dict[str, DealAccount] = {}

    def reporter(account_name: str) -> Any:
        def on_report(report: OrderReport) -> None:
            if desk_ref:
                desk = desk_ref[0]
                account = desk.accounts_by_name.get(account_name, desk.hedge_account)
                desk.on_report(account, report)

        return on_report

    opened: list[DealAccount] = []
    try:
        for engine_name in names:
            spec = spot_of[engine_name]
            balances = {
                deal.token: holdings[engine_name] + (lp_tokens if engine_name == reference else _ZERO)
            }
            paper = settings.paper_for(engine_name).model_copy(update={"starting_balances": balances})
            account_name = f"{name}-{engine_name}"
            exchange, journal, fills, transfers = open_account(
                account_name, [spec], paper, data_dir, replay=replay, on_report=reporter(account_name)
            )
            account = DealAccount(
                account_name,
                exchange,
                journal,
                spec,
                engine=engine_name,
                weight=weights[engine_name],
                start_fills=fills,
                transfers=transfers,
            )
            accounts[engine_name] = account
            opened.append(account)
        paper = settings.paper.model_copy(
            update={"starting_balances": dict(deal_settings.treasury), "leverage": deal_settings.leverage}
        )
        hedge_name = f"{name}-hedge"
        exchange, journal, fills, transfers = open_account(
            hedge_name, [perp], paper, data_dir, replay=replay, on_report=reporter(hedge_name)
        )
        hedge_account = DealAccount(hedge_name, exchange, journal, None, perp, transfers=transfers)
        opened.append(hedge_account)
        engine = Engine(
            name,
            [*spot_of.values(), perp],
            stale_after_s=settings.market.stale_after_s,
            max_buffer=settings.market.max_buffer,
            checks=settings.market,
        )
        for account in opened:
            engine.add_handler(account.exchange.on_event)
        seed = deal_settings.pool.seed if deal_settings.pool.seed is not None else settings.paper.seed
        venue = deal.lp[0].venue if deal.lp else "pool"
        pool = PoolVenue(
            venue, deal_settings.pool, seed, lambda kind, payload: hedge_account.exchange.note(kind, payload)
        )
        desk = DealDesk(
            engine,
            deal,
            deal_settings,
            reference=ref_spec.key,
            accounts=accounts,
            hedge_account=hedge_account,
            mm={n: trading[n] for n in names},
            mm_specs=spot_of,
            pool=pool,
            sale_tokens=sale,
            lp_tokens=lp_tokens,
            lp_quote=lp_quote,
        )
        desk.allotments = {accounts[n].name: allotments[n] for n in names}
        restore_desk(desk, opened)
        desk_ref.append(desk)
        engine.add_handler(desk)
    except BaseException:
        for account in opened:
            if account.journal is not None:
                account.journal.close()
        raise
    log.info(
        "deal desk ready",
        deal=deal.name,
        phase=desk.phase.value,
        venues=names,
        reference=reference,
        hedge=perp.key,
        sale=str(sale),
        held=str(held),
        pool_deposit={deal.token: str(lp_tokens), deal.quote: str(lp_quote)},
        term_s=deal_settings.term_s,
    )
    return DealRun(engine, desk, opened)


def restore_desk(desk: DealDesk, accounts: list[DealAccount]) -> None:
    """Fold the desk's notes (the hedge account's journal) and the accounts' fills back."""
    journal = desk.hedge_account.journal
    for account in accounts:
        for record in account.transfers:
            desk.applied[record.ref] = record
    if journal is None:
        return
    last_pool: dict[str, Any] | None = None
    last_sample = 0
    for _seq, _position, _ts, record in journal.records():
        if not isinstance(record, NoteRecord):
            continue
        kind, payload = record.kind, record.payload
        if kind == "deal_start":
            calendar = payload["calendar"]
            desk.calendar = DealCalendar(
                int(calendar["start_ns"]),
                int(calendar["expiry_ns"]),
                int(calendar["deal_start_ns"]),
                int(calendar["deal_expiry_ns"]),
            )
            desk.options_start = desk.options_mark = Decimal(payload["options_value"])
            desk.loan_start = Decimal(payload["loan_value"])
            desk.loan_price = Decimal(payload["price"])
            desk.mark = Decimal(payload["price"])
            desk.phase = Phase.OPEN
        elif kind == "deal_step":
            desk.steps[payload["id"]] = payload
            if payload["id"].startswith("margin:"):
                desk.margin_steps += 1
        elif kind == "deal_done":
            desk.done.add(payload["id"])
            desk.restore_checkpoint(payload)
            desk.volume_event = int(payload.get("volume_event", desk.volume_event))
        elif kind in ("deal_phase", "deal_sample"):
            desk.restore_checkpoint(payload)
            desk.volume_event = int(payload.get("volume_event", desk.volume_event))
            if kind == "deal_sample":
                last_sample = int(payload["ts"])
        elif kind == "deal_closed":
            desk.restore_checkpoint(payload)
            desk.volume_event = int(payload.get("volume_event", desk.volume_event))
            desk.phase = Phase.CLOSED
        elif kind == "deal_program":
            program = Program.from_definition(payload["definition"])
            desk.programs[program.name] = program
            desk.program_base[program.name] = {k: Decimal(v) for k, v in payload["base"].items()}
        elif kind == "deal_program_end":
            desk.program_end[payload["name"]] = {k: Decimal(v) for k, v in payload["end"].items()}
            if payload.get("stopped"):
                desk.programs[payload["name"]].stop()
        elif kind in ("pool_swap", "pool_liquidity"):
            last_pool = payload
    if last_pool is not None:
        desk.pool.restore(last_pool)
    for account in accounts:
        for program_name, quantity in account.start_fills.items():
            program = desk.programs.get(program_name)
            if program is not None and account.name in program.targets:
                program.on_fill(account.name, quantity)
    sale = desk.programs.get("sale")
    if sale is not None and desk.phase not in (Phase.WAITING, Phase.OPEN):
        sale.stop()  # stopped at expiry
    desk.next_sample = last_sample + desk.sample_ns if last_sample else 0
    desk.pending = [step for step in desk.steps if step not in desk.done]
    if desk.steps or desk.phase is not Phase.WAITING:
        log.info(
            "deal desk restored",
            phase=desk.phase.value,
            steps=len(desk.steps),
            unfinished=desk.pending,
            programs={n: str(p.done) for n, p in desk.programs.items()},
            pool_swaps=desk.pool.swaps,
        )
