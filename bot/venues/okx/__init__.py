"""OKX v5 public market data (spot, perpetual swaps, dated futures); see :mod:`bot.venues`."""
