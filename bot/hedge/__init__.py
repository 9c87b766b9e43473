"""Delta hedging: models, the net delta book, the hedge decision and the deal planner.

- ``black_scholes``: European option prices and greeks.
- ``amm``: constant-product LP holdings, delta, gamma, impermanent loss.
- ``delta``: net delta per base asset (spot - loan + perp + options + LP) with breakdown.
- ``hedger``: hedger settings and the pure hedge decision (band, step, minimum size).
- ``execution``: taker / passive-then-taker state machine for one hedge order.
- ``deal`` / ``planner``: market-maker deal files and ``mmbot deal plan``.
- ``dealbook``: a deal's loan, calls and LPs as delta-book positions (planner and hedger).
- ``settings``: the ``[hedge]`` config section (per-engine overrides).
- ``attribution``: path-wise PnL of options/LP and of the unhedged delta (gamma scalping).
- ``reporting``: finished-hedge records and the exact hedge PnL components.

The engine handler that runs the hedger live is :mod:`bot.engine.hedging`.
Sans-IO: no sockets, no clocks; time and prices are arguments.
"""
