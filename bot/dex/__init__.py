"""Decentralised-exchange liquidity, simulated exactly (pure, sans-IO, no clock).

- :mod:`bot.dex.pair`: the PancakeSwap v2 pair contract (constant product, 0.25 % swap
  fee, the protocol's 8/25 of the fee growth via ``_mintFee``), in integer token units;
- :mod:`bot.dex.arbitrage`: the closed-form optimal arbitrage against an outside price;
- :mod:`bot.dex.flow`: seeded noise (uninformed) swap flow;
- :mod:`bot.dex.position`: an LP position's exact accounting (fees, impermanent loss,
  delta PnL, entry/exit) at marks.
"""
