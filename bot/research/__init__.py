"""Offline research studies (numpy, vectorised); never imported by the trading core."""
