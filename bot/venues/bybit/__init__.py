"""Bybit v5 public market data (spot and linear perpetuals); see :mod:`bot.venues`."""
