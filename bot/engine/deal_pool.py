"""The deal's PancakeSwap pool as a venue: its outside flow, its journal, our LP position.

:class:`PoolVenue` drives a :class:`~bot.dex.pair.PancakePair` from the desk's event loop:
at every evaluation it first revalues our LP position at the deal's mark (the reference
CEX mid), then runs the noise swaps that arrived since the last one
(:class:`~bot.dex.flow.NoiseFlow`), then the optimal arbitrage against the mark
(:func:`~bot.dex.arbitrage.find_arbitrage`: the arbitrageur trades only when the pool
price is off by more than the fee plus its costs). Each swap is journaled as a
``pool_swap`` note in the desk's unit of work -- kind, amounts, reserves after, our LP
position's accounting, the flow's position -- and our mint and burn as ``pool_liquidity``
notes, so a restart rebuilds the pool exactly from the last note.

The arbitrageur's and noise traders' outside legs are not simulated on the CEX books:
they are third parties. Our position's fee income, impermanent loss and delta come from
:class:`~bot.dex.position.LpPosition`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any

import structlog

from bot.dex.arbitrage import find_arbitrage
from bot.dex.flow import NoiseFlow, NoiseSwap
from bot.dex.pair import PairError, PancakePair
from bot.dex.position import LpPosition, to_units, units
from bot.hedge.deal_settings import PoolSettings

log = structlog.get_logger("bot.deal.pool")

HOLDER = "mm"
Note = Callable[[str, dict[str, Any]], None]


class PoolVenue:
    def __init__(self, venue: str, settings: PoolSettings, seed: int, note: Note) -> None:
        self.venue = venue
        self.settings = settings
        self.pair = PancakePair(protocol_share=(8, 17) if settings.protocol_fee else None)
        self.lp = LpPosition(self.pair, HOLDER)
        self.seed = seed
        self.flow: NoiseFlow | None = None
        self._note = note
        self.swaps = 0
        self.arbs = 0
        self.noise = 0
        self.volume_quote = Decimal(0)
        """Quote value of every swap (at the mark)."""
        self.last_swap: dict[str, Any] | None = None

    @property
    def live(self) -> bool:
        return self.pair.total_supply > 0 and self.pair.balances.get(HOLDER, 0) > 0

    def start_flow(self, start_ns: int, index: int = 0) -> None:
        s = self.settings
        self.flow = NoiseFlow(
            seed=self.seed,
            rate_per_s=s.noise_rate_per_s,
            median_notional=s.noise_notional,
            sigma=s.noise_sigma,
            buy_probability=s.noise_buy_probability,
            start_ns=start_ns,
            index=index,
        )

    # ---- liquidity -------------------------------------------------------------------

    def mint(
        self, tokens: Decimal, quote: Decimal, deposited_value: Decimal, mark: Decimal, now: int
    ) -> None:
        """Deposit our liquidity (``deposited_value`` = what left the accounts, at their marks)."""
        self.lp.on_mark(mark)
        liquidity = self.pair.mint(HOLDER, to_units(tokens), to_units(quote))
        self.lp.on_liquidity(deposited_value)
        self._note_liquidity("mint", liquidity, tokens, quote, deposited_value, mark, now)

    def burn(self, mark: Decimal, now: int) -> tuple[Decimal, Decimal]:
        """Burn all our liquidity; returns the (tokens, quote) paid out (exact)."""
        self.lp.on_mark(mark)
        liquidity = self.pair.balances.get(HOLDER, 0)
        amount0, amount1 = self.pair.burn(HOLDER, liquidity)
        tokens, quote = units(amount0), units(amount1)
        return tokens, quote

    def booked_burn(
        self, paid_value: Decimal, tokens: Decimal, quote: Decimal, mark: Decimal, now: int
    ) -> None:
        """Book the burn once the accounts received its proceeds (``paid_value`` at their marks)."""
        self.lp.on_liquidity(-paid_value)
        self._note_liquidity("burn", 0, tokens, quote, paid_value, mark, now)

    def _note_liquidity(
        self,
        kind: str,
        liquidity: int,
        tokens: Decimal,
        quote: Decimal,
        value: Decimal,
        mark: Decimal,
        now: int,
    ) -> None:
        self._note(
            "pool_liquidity",
            {
                "kind": kind,
                "liquidity": str(liquidity),
                "tokens": str(tokens),
                "quote": str(quote),
                "value": str(value),
                "mark": str(mark),
                "ts": now,
                **self.state(),
            },
        )

    # ---- flow ------------------------------------------------------------------------

    def advance(self, now: int, mark: Decimal) -> None:
        """Revalue at ``mark``, run the noise swaps due, then the arbitrage against ``mark``."""
        self.lp.on_mark(mark)
        if not self.live:
            return
        if self.flow is not None:
            for swap in self.flow.due(now):
                self._noise_swap(swap, mark, now)
        s = self.settings
        arb = find_arbitrage(
            self.pair.reserve0,
            self.pair.reserve1,
            mark,
            fee_bps=self.pair.fee_bps,
            cost_bps=s.arb_cost_bps,
            min_profit=s.arb_min_profit,
        )
        if arb is not None:
            self._swap("arb", arb.zero_for_one, arb.amount_in, mark, now, {"profit": str(arb.profit)})

    def _noise_swap(self, swap: NoiseSwap, mark: Decimal, now: int) -> None:
        pair = self.pair
        notional = to_units(swap.notional.quantize(Decimal("0.000001"), rounding=ROUND_DOWN))
        if swap.buy:
            amount_in, zero_for_one = notional, False
        else:
            amount_in, zero_for_one = notional * pair.reserve0 // pair.reserve1, True
        self._swap("noise", zero_for_one, amount_in, mark, now, {"index": swap.index})

    def _swap(
        self, kind: str, zero_for_one: bool, amount_in: int, mark: Decimal, now: int, extra: dict[str, Any]
    ) -> None:
        pair = self.pair
        liquidity = pair.balances.get(HOLDER, 0)
        supply = pair.total_supply + pair.pending_protocol_liquidity()
        try:
            result = pair.swap_exact_in(zero_for_one, amount_in)
        except PairError as exc:
            log.warning("pool swap refused", kind=kind, amount_in=amount_in, error=str(exc))
            return
        self.lp.on_swap(zero_for_one, amount_in, liquidity, supply)
        self.swaps += 1
        if kind == "arb":
            self.arbs += 1
        else:
            self.noise += 1
        quote_amount = units(result.amount_out if zero_for_one else amount_in)
        self.volume_quote += quote_amount
        payload = {"kind": kind, "ts": now, "mark": str(mark), **result.as_dict(), **extra, **self.state()}
        self.last_swap = payload
        self._note("pool_swap", payload)

    # ---- views and state -------------------------------------------------------------

    def price(self) -> float:
        return self.pair.price()

    def state(self) -> dict[str, Any]:
        return {
            "pair": self.pair.state(),
            "lp": self.lp.state(),
            "flow": self.flow.state() if self.flow is not None else None,
            "counts": {"swaps": self.swaps, "arbs": self.arbs, "noise": self.noise},
            "volume_quote": str(self.volume_quote),
        }

    def restore(self, payload: dict[str, Any]) -> None:
        self.pair.restore(payload["pair"])
        self.lp.restore(payload["lp"])
        flow = payload.get("flow")
        if flow is not None:
            self.start_flow(int(flow["after_ns"]), int(flow["index"]))
        counts = payload.get("counts") or {}
        self.swaps = int(counts.get("swaps", 0))
        self.arbs = int(counts.get("arbs", 0))
        self.noise = int(counts.get("noise", 0))
        self.volume_quote = Decimal(payload.get("volume_quote", "0"))

    def status(self) -> dict[str, Any]:
        pair = self.pair
        return {
            "venue": self.venue,
            "price": None if not pair.reserve0 else pair.price(),
            "reserves": {"token": str(units(pair.reserve0)), "quote": str(units(pair.reserve1))},
            "our_share": (pair.balances.get(HOLDER, 0) / pair.total_supply) if pair.total_supply else 0.0,
            "claim": {"token": str(self.lp.tokens), "quote": str(self.lp.quote)},
            "value": str(self.lp.value()),
            "swaps": self.swaps,
            "arbitrage": self.arbs,
            "noise": self.noise,
            "volume_quote": str(self.volume_quote),
            "accounting": self.lp.state(),
        }
