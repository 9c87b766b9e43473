"""Delta hedging: models, the net delta book, the hedge decision and the deal planner.

- ``black_scholes``: European option prices and greeks.
- ``amm``: constant-product LP holdings, delta, gamma, impermanent loss.
- ``delta``: net delta per base asset (spot - loan + perp + options + LP) with breakdown.
- ``hedger``: hedger settings and the pure hedge decision (band, step, minimum size).
- ``execution``: taker / passive-then-taker state machine for one hedge order.
- ``deal`` / ``planner``: market-maker deal files and ``mmbot deal plan``.

Sans-IO: no sockets, no clocks; time and prices are arguments.
"""
