"""Bitget v2 public market data (spot and USDT-M perpetuals); see :mod:`bot.venues`."""
