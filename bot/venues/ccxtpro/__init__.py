"""Generic market data through ccxt.pro for exchanges without a hand-written adapter.

Modules: :mod:`.exchange` (a ccxt.pro exchange from ``[venues.ccxt.<name>]``, URL
overrides, symbol -> market matching), :mod:`.markets` (exact instrument specs from
ccxt markets, cached on disk), :mod:`.convert` (ccxt numbers -> integer ticks/lots),
:mod:`.images` (book images -> snapshot/diff events), :mod:`.records` (trades and
funding -> events), :mod:`.sync` (the engine's book-sync rule for image feeds),
:mod:`.guard` (keeps ccxt's receive loops alive through bad frames), :mod:`.adapter`
(:class:`~bot.venues.ccxtpro.adapter.CcxtProMarketData`), :mod:`.loopback` (ccxt's
Binance pointed at the loopback emulator), :mod:`.wiring` (what ``mmbot run`` calls).
"""
