"""Market estimators: incremental statistics the quoters and the risk manager read.

``Estimators(instrument, params)`` is fed book updates and trades (``on_event`` /
``on_book`` / ``on_trade``) and returns a frozen :class:`MarketState` from
``snapshot()``. Units are stated in :mod:`bot.market.estimators.state`.
"""

from bot.market.estimators.core import Estimators
from bot.market.estimators.intensity import IntensityEstimator, fit_exponential
from bot.market.estimators.params import EstimatorParams
from bot.market.estimators.state import MarketState

__all__ = ["EstimatorParams", "Estimators", "IntensityEstimator", "MarketState", "fit_exponential"]
