"""The wiring: the only layer that knows every component.

* :mod:`bot.engine.loop` — :class:`~bot.engine.loop.Engine`: one instrument set's books,
  sync and timers, dispatching each market event to the handlers below.
* :mod:`bot.engine.assemble` — building an engine from settings (books, paper
  exchange, journal, estimators, risk manager, quoter, order manager, hedger).
* :mod:`bot.engine.trading` — the quoting pipeline run on every event.
* :mod:`bot.engine.hedging` / :mod:`bot.engine.hedge_setup` — the hedge pipeline.
* :mod:`bot.engine.mirror` / :mod:`bot.engine.reconcile` — the testnet mirror of paper
  orders and its reconciliation.

Synchronous and sans-IO like the components it wires; ``bot/ops`` (live daemon),
``bot/replay`` and ``bot/commands`` drive it. No component package imports it.
See docs/ARCHITECTURE.md.
"""
