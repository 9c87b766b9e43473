"""Generic market data through ccxt.pro for exchanges without a hand-written adapter.

Modules: :mod:`.exchange` (building a ccxt.pro exchange from ``[venues.ccxt.<name>]``,
URL overrides, symbol -> market matching), :mod:`.markets` (exact instrument specs from
ccxt markets, cached on disk), :mod:`.convert` (ccxt numbers -> integer ticks/lots,
book image diffs), :mod:`.sync` (the book-sync rule for image feeds), :mod:`.adapter`
(:class:`~bot.venues.ccxtpro.adapter.CcxtProMarketData`), :mod:`.loopback` (settings
that point ccxt's Binance at the loopback emulator).
"""
