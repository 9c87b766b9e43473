"""The paper venue: fill simulator, fees, latency, exact ledger (sans-IO).

- :mod:`bot.paper.exchange` -- ``PaperExchange``, the engine handler (``on_event``,
  ``submit``) that owns the venue-side books, latencies and the journal unit of work;
- :mod:`bot.paper.execution` -- order arrivals, fills, cancels, funding;
- :mod:`bot.paper.matching` -- queue positions and the fill rules; :mod:`bot.paper.level`
  -- trades and depth reconciled at one of our price levels; :mod:`bot.paper.through` --
  fills through our price, capped by the traded or displayed volume;
- :mod:`bot.paper.queue` -- queue models; :mod:`bot.paper.latency` -- latency model;
- :mod:`bot.paper.validation`, :mod:`bot.paper.account` -- order and account checks;
- :mod:`bot.paper.fees` -- fee schedules; :mod:`bot.paper.ledger` -- the ledger and
  PnL attribution; :mod:`bot.paper.records` -- what is journaled;
  :mod:`bot.paper.restore` -- rebuilding from the journal;
- :mod:`bot.paper.settings` -- the ``[paper]`` config section;
- :mod:`bot.paper.refmm`, :mod:`bot.paper.synthetic` -- the benchmark's reference
  market maker and a synthetic stream (benchmark and soak test).

Order commands and reports are in :mod:`bot.core.orders`; the SQLite journal and
recovery in :mod:`bot.store`.
"""
