"""Exchange adapters: the async edge between a venue's wire protocol and the core.

Every venue is the same small set of modules -- the *venue template* -- so the core
sees only :mod:`bot.core.events` and a new venue is a copy of the template plus its
rules. For a venue ``foo`` with markets ``foo_spot`` / ``foo_perp``:

=====================================  =========================================================
module                                 owns
=====================================  =========================================================
``bot/venues/foo/endpoints.py``        config -> URLs (mainnet / testnet / demo defaults, the
                                       ``ws_url`` / ``rest_url`` overrides), stream / topic /
                                       channel names, request frames, per-request limits
``bot/venues/foo/messages.py``         msgspec structs of the raw messages and a *pure*
                                       decoder: ``FooDecoder(venue, specs).decode(raw,
                                       local_ts) -> list[MarketEvent]`` (``[]`` for acks and
                                       pongs; ``decode_frame`` is the name the adapter calls),
                                       raising :class:`~bot.venues.decoding.DecodeError` with a
                                       ``kind`` for anything else. No sockets, no clock; exact
                                       tick / lot conversion via :class:`~bot.venues.decoding.Scalers`
``bot/market/sync/foo.py``             the book-sync rule (sans IO, in the core): a
                                       :class:`~bot.market.sync.base.BookSync` subclass --
                                       REST-snapshot venues implement ``is_obsolete`` /
                                       ``is_first`` / ``follows``; venues that send the
                                       snapshot in the stream subclass
                                       :class:`~bot.market.sync.stream.StreamSnapshotSync` and
                                       implement ``follows`` (and ``_verify`` for a checksum);
                                       registered in ``bot.market.sync.SYNC_RULES``
``bot/venues/foo/rest.py``             REST calls: depth snapshots where the venue needs them
                                       (Binance), instrument metadata via ccxt (exact specs
                                       from the venue's raw fields; :mod:`bot.venues.ccxt_markets`)
``bot/venues/foo/adapter.py``          the adapter: subclass :class:`~bot.venues.base.StreamingAdapter`
                                       (URL streams, e.g. Binance) or
                                       :class:`~bot.venues.subscribing.SubscribingAdapter`
                                       (subscribe by message, resync by resubscribing: Bybit,
                                       OKX, Bitget); plan the connections, send the subscriptions,
                                       set the keep-alive (``app_ping`` / ``ws_pings``), fulfil
                                       ``request_snapshot``
``bot/emulator/foo_protocol.py``       the emulator's side of the wire protocol, written
                                       independently of the client: paths, control messages,
                                       frames, faults (:mod:`bot.emulator.opvenues` for
                                       subscribe-by-message venues)
=====================================  =========================================================

Shared by every venue (write nothing of this again): :mod:`bot.venues.base` (one task
per connection, reconnect with exponential backoff and decorrelated jitter,
websocket and application heartbeats, staleness, rollover, ``FeedStatus`` for the
books a connection carries, decode errors counted by kind, a sink that may raise),
:mod:`bot.venues.stats` (the same counters everywhere), :mod:`bot.venues.backoff`,
:mod:`bot.venues.throttle`, :mod:`bot.venues.decoding`.

Adding a venue: copy ``bot/venues/bybit`` (or ``binance`` for a REST-snapshot venue),
write its rules in the modules above, then register it in four places:
``bot.venues.registry.ADAPTERS`` (adapter factory), ``bot.market.sync.SYNC_RULES``
(sync rule), ``bot.venues.settings`` (``VenueName`` and a ``VenuesSettings`` section) and
``bot.venues.metadata.fetch_venue`` (metadata). Its tests drive the real adapter
through the emulator over a real websocket on 127.0.0.1, replaying a real recording.

Venues today: ``binance_spot``, ``binance_usdm`` (:mod:`bot.venues.binance`),
``bybit_spot``, ``bybit_linear`` (:mod:`bot.venues.bybit`), ``okx_spot``, ``okx_swap``,
``okx_futures`` (:mod:`bot.venues.okx`), ``bitget_spot``, ``bitget_usdtm``
(:mod:`bot.venues.bitget`).
"""
