"""Quoters: pure functions from (market state, inventory, parameters) to desired quotes.

Unit convention (every module in this package, and :mod:`bot.market.estimators`):

- **Prices are ticks.** Model prices (fair value, reservation price, half spreads,
  skews, quote depths) are floats in ticks; quotes that leave the package are integer
  ticks (:class:`bot.strategy.types.Quote`). Volatility ``sigma`` is in ticks per
  sqrt(second); intensity ``k`` per tick; risk aversion ``gamma`` (and GLFT ``xi``)
  per tick.
- **Time is seconds** (``T - t``, horizons, periods); ``A`` is arrivals per second.
- **Inventory q is in quote units**: ``q = (position - target) / quote_size``, where
  ``quote_size`` is the ladder's base order size -- one filled quote changes q by 1,
  as in Avellaneda-Stoikov (2008, one share per order) and GLFT (2013, Delta = 1).
- **Sizes leaving the package are integer lots** rounded to the instrument's quantity
  step; positions are integer lots.

Models (reference numbers and sources in the tests):

- :mod:`~bot.strategy.avellaneda_stoikov` -- reservation price and optimal spread,
  finite, rolling and cyclic horizons, non-zero inventory target;
- :mod:`~bot.strategy.glft` -- Gueant-Lehalle-Fernandez-Tapia infinite-horizon closed
  form with inventory limits;
- :mod:`~bot.strategy.fixed_spread` -- the symmetric baseline;
- :mod:`~bot.strategy.spread_optimizer` -- the static optimum of P(|move| > h) * h;
- :mod:`~bot.strategy.ladder` -- multi-level ladders, size shaping, tick/lot rounding,
  post-only, min notional and max position;
- :mod:`~bot.strategy.profile` -- ``config/strategies/*.toml`` profiles and
  :func:`~bot.strategy.profile.build_quoter`.
"""
