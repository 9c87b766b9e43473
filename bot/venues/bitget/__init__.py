"""Bitget v2 public market data (spot and USDT-M perpetuals); see :mod:`bot.venues`.

Venues ``bitget_spot`` (``instType`` ``SPOT``) and ``bitget_usdtm`` (``USDT-FUTURES``),
both on ``wss://ws.bitget.com/v2/ws/public``. Book sync rule: :mod:`bot.market.sync.bitget`;
emulator side: :mod:`bot.emulator.bitget_protocol`.

What the protocol code rests on, and how sure we are (no network was available when this
was written, so nothing was checked against a live v2 stream):

Verified in Bitget's API documentation (mirrors of bitget.com/api-doc: "Websocket API",
spot "Depth Channel", UTA "Order Book Channel") and in ccxt 4.5.90 (``ccxt/pro/bitget.py``):

- URLs (mainnet and demo), the subscribe / unsubscribe request and ack shapes, the error
  event with numeric codes (30001 "doesn't exist", 30003 invalid op, 30016 param error);
- keep-alive: the text ``ping`` every 30 s answered ``pong``; no ping for 2 minutes closes
  the connection; 10 messages per second, 240 subscriptions per hour and 1000 channels per
  connection (fewer than 50 recommended); connections closed every 24 h;
- ``books``: a snapshot first, then updates; absolute sizes, 0 deletes; ``seq`` "incrementing
  except during symbol maintenance"; ``books1`` / ``books5`` / ``books15`` are snapshots
  each push;
- the checksum: best 25 levels per side, ``bid1:ask1:bid2:ask2...`` with ``price:size``,
  CRC-32 as a signed 32-bit integer of the strings as received (ccxt's implementation).

Verified on recorded data (cryptofeed's 2022 Bitget v1 USDT-M recording in the test data):
every book checksum -- snapshots included -- matches the construction above on the recorded
text; book numbers keep the instrument's fixed decimals (``"113.50"``, ``"6.40"``,
``"10.000"``), trade prices are canonical (``"113.4"``); a subscription's first ``trade``
push is older history (also in JKorf/Bitget.Net's recorded v2 fixture); ticker pushes are
full snapshots each time.

Assumed (not verifiable here), and handled defensively:

- ``pseq`` on classic v2 ``books`` updates: documented only for the unified-account stream.
  Used when present and non-zero; otherwise ``seq`` must grow. ``pseq = 0`` or a lower
  ``seq`` (a reset) means resubscribe;
- ``seq`` as a number (v2 docs) or a string (ccxt's unified-account example): both accepted;
- the trade ``side`` is the taker's side (ccxt reads it so);
- the v2 USDT-M ticker field names (``markPrice``, ``indexPrice``, ``fundingRate``,
  ``nextFundingTime``) come from ccxt and Bitget.Net's recorded fixture, not from the docs
  page itself;
- what a ``books5`` checksum covers (not used);
- the number of args per subscribe request (20 here; cryptofeed's recording shows 32
  accepted by v1).
"""
