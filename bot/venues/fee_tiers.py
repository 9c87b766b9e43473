"""Published maker/taker fee tiers of the native venues, chosen per venue in config.

``[venues.<venue>] fee_tier = "vip3"`` makes every instrument of that venue pay the
tier's rates in the paper exchange and makes every quoter quote against them (its
break-even distance). An explicit ``maker_fee``/``taker_fee`` pair overrides a tier.
Rates are fractions of the notional (``0.001`` = 0.1 %); a negative maker rate is a
rebate. Rates are the venues' *base* rates (no discount for paying fees in the venue's
token unless the tier says so), copied from the schedules cited with each table; fee
schedules change, so check the venue's page before relying on a number.

Market-maker programmes are tiers too (``lp1``, ``mm2``, ...): the maker rate is the
programme's; programmes leave the taker rate at the account's VIP tier, so those
entries carry the regular (VIP 0) taker rate -- the conservative choice.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec


class FeeTier(msgspec.Struct, frozen=True):
    maker: Decimal
    taker: Decimal
    source: str


def _pct(maker: str, taker: str, source: str) -> FeeTier:
    """Rates written in percent, as the venues publish them."""
    return FeeTier(maker=Decimal(maker) / 100, taker=Decimal(taker) / 100, source=source)


_BINANCE_SPOT = "Binance spot/margin fee schedule (binance.com/en/fee/schedule), VIP 0-9 base rates"
_BINANCE_SPOT_BNB = _BINANCE_SPOT + ", 25 % off when fees are paid in BNB"
_BINANCE_SPOT_LP = (
    "Binance Spot Liquidity Provider Program (announcement 2022-02-14): Tier 1, weekly maker volume "
    ">= 0.05 % of Binance spot maker volume, maker 0.0000 %; taker per VIP level (here VIP 0)"
)
_BINANCE_USDM = "Binance USD-M futures fee schedule (binance.com/en/fee/futureFee), VIP 0-9 base rates"
_BINANCE_USDM_LP = (
    "Binance USD-M Futures Liquidity Provider Program (upgrade effective 2023-10-23): Tier 1/2/3, weekly "
    "maker volume >= 0.20/0.60/1.50 %, maker -0.003/-0.004/-0.005 % on USDT-M; taker per VIP level (VIP 0)"
)
_BYBIT_SPOT = "Bybit trading fee structure (help center 'Trading Fee Structure'), spot VIP 0-5, Supreme VIP"
_BYBIT_LINEAR = "Bybit trading fee structure, perpetual & futures VIP 0-5, Supreme VIP"
_BYBIT_MM_SPOT = (
    "Bybit Market Maker Incentive Program (help center, 2025-07-31): spot MM1/MM2/MM3 maker "
    "-0.001/-0.005/-0.0075 %; taker per Pro tier (here VIP 0)"
)
_BYBIT_MM_LINEAR = (
    "Bybit Market Maker Incentive Program: derivatives MM1 (>0.1 % of maker volume) -0.0025 %, MM2 "
    "(>0.5 %) -0.0050 %; taker per VIP level (VIP 0)"
)
_OKX_SPOT = "OKX fee schedule (okx.com/fees), spot USDT pairs: regular Lv1-Lv5, VIP 1-8"
_OKX_SWAP = "OKX fee schedule (okx.com/fees), futures & perpetual USDT-margined: regular Lv1"
_BITGET = "Bitget fee schedule (bitget.com/fee), regular (VIP 0) rates"

FEE_TIERS: dict[str, dict[str, FeeTier]] = {
    "binance_spot": {
        "vip0": _pct("0.1000", "0.1000", _BINANCE_SPOT),
        "vip1": _pct("0.0900", "0.1000", _BINANCE_SPOT),
        "vip2": _pct("0.0800", "0.1000", _BINANCE_SPOT),
        "vip3": _pct("0.0420", "0.0600", _BINANCE_SPOT),
        "vip4": _pct("0.0420", "0.0540", _BINANCE_SPOT),
        "vip5": _pct("0.0360", "0.0480", _BINANCE_SPOT),
        "vip6": _pct("0.0300", "0.0420", _BINANCE_SPOT),
        "vip7": _pct("0.0240", "0.0360", _BINANCE_SPOT),
        "vip8": _pct("0.0180", "0.0300", _BINANCE_SPOT),
        "vip9": _pct("0.0120", "0.0240", _BINANCE_SPOT),
        "vip0_bnb": _pct("0.0750", "0.0750", _BINANCE_SPOT_BNB),
        "vip9_bnb": _pct("0.0090", "0.0180", _BINANCE_SPOT_BNB),
        "lp1": _pct("0.0000", "0.1000", _BINANCE_SPOT_LP),
    },
    "binance_usdm": {
        "vip0": _pct("0.0200", "0.0500", _BINANCE_USDM),
        "vip1": _pct("0.0160", "0.0400", _BINANCE_USDM),
        "vip2": _pct("0.0140", "0.0350", _BINANCE_USDM),
        "vip3": _pct("0.0120", "0.0320", _BINANCE_USDM),
        "vip4": _pct("0.0100", "0.0300", _BINANCE_USDM),
        "vip5": _pct("0.0080", "0.0270", _BINANCE_USDM),
        "vip6": _pct("0.0060", "0.0250", _BINANCE_USDM),
        "vip7": _pct("0.0040", "0.0220", _BINANCE_USDM),
        "vip8": _pct("0.0020", "0.0200", _BINANCE_USDM),
        "vip9": _pct("0.0000", "0.0170", _BINANCE_USDM),
        "lp1": _pct("-0.0030", "0.0500", _BINANCE_USDM_LP),
        "lp2": _pct("-0.0040", "0.0500", _BINANCE_USDM_LP),
        "lp3": _pct("-0.0050", "0.0500", _BINANCE_USDM_LP),
    },
    "bybit_spot": {
        "vip0": _pct("0.1000", "0.1000", _BYBIT_SPOT),
        "vip1": _pct("0.0675", "0.0800", _BYBIT_SPOT),
        "vip2": _pct("0.0650", "0.0775", _BYBIT_SPOT),
        "vip3": _pct("0.0625", "0.0750", _BYBIT_SPOT),
        "vip4": _pct("0.0500", "0.0600", _BYBIT_SPOT),
        "vip5": _pct("0.0400", "0.0500", _BYBIT_SPOT),
        "supreme": _pct("0.0300", "0.0450", _BYBIT_SPOT),
        "mm1": _pct("-0.0010", "0.1000", _BYBIT_MM_SPOT),
        "mm2": _pct("-0.0050", "0.1000", _BYBIT_MM_SPOT),
        "mm3": _pct("-0.0075", "0.1000", _BYBIT_MM_SPOT),
    },
    "bybit_linear": {
        "vip0": _pct("0.0200", "0.0550", _BYBIT_LINEAR),
        "vip1": _pct("0.0180", "0.0400", _BYBIT_LINEAR),
        "vip2": _pct("0.0160", "0.0375", _BYBIT_LINEAR),
        "vip3": _pct("0.0140", "0.0350", _BYBIT_LINEAR),
        "vip4": _pct("0.0120", "0.0320", _BYBIT_LINEAR),
        "vip5": _pct("0.0100", "0.0320", _BYBIT_LINEAR),
        "supreme": _pct("0.0000", "0.0300", _BYBIT_LINEAR),
        "mm1": _pct("-0.0025", "0.0550", _BYBIT_MM_LINEAR),
        "mm2": _pct("-0.0050", "0.0550", _BYBIT_MM_LINEAR),
    },
    "okx_spot": {
        "lv1": _pct("0.080", "0.100", _OKX_SPOT),
        "lv2": _pct("0.075", "0.095", _OKX_SPOT),
        "lv3": _pct("0.070", "0.090", _OKX_SPOT),
        "lv4": _pct("0.065", "0.085", _OKX_SPOT),
        "lv5": _pct("0.060", "0.080", _OKX_SPOT),
        "vip1": _pct("0.060", "0.080", _OKX_SPOT),
        "vip2": _pct("0.050", "0.070", _OKX_SPOT),
        "vip3": _pct("0.030", "0.060", _OKX_SPOT),
        "vip4": _pct("0.020", "0.050", _OKX_SPOT),
        "vip5": _pct("0.000", "0.040", _OKX_SPOT),
        "vip6": _pct("-0.002", "0.030", _OKX_SPOT),
        "vip7": _pct("-0.005", "0.025", _OKX_SPOT),
        "vip8": _pct("-0.005", "0.020", _OKX_SPOT),
    },
    "okx_swap": {"lv1": _pct("0.020", "0.050", _OKX_SWAP)},
    "okx_futures": {"lv1": _pct("0.020", "0.050", _OKX_SWAP)},
    "bitget_spot": {"vip0": _pct("0.100", "0.100", _BITGET)},
    "bitget_usdtm": {"vip0": _pct("0.020", "0.060", _BITGET)},
}
"""venue -> tier name -> rates and where they come from."""


def tier_rates(venue: str, tier: str) -> FeeTier:
    """The tier ``tier`` of ``venue``; ValueError naming the known tiers otherwise."""
    tiers = FEE_TIERS.get(venue)
    if tiers is None:
        known = ", ".join(sorted(FEE_TIERS))
        raise ValueError(
            f"no published fee tiers for {venue!r} (tiers exist for {known}); set maker_fee/taker_fee"
        )
    found = tiers.get(tier)
    if found is None:
        raise ValueError(f"unknown fee tier {tier!r} for {venue}; known tiers: {', '.join(tiers)}")
    return found
