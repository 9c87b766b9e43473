"""Parameter sweeps over recordings (``mmbot sweep``): many replays, one table of results.

A sweep spec (:mod:`bot.sweep.spec`) names recordings, a base config and strategy, and the
parameters to vary. :mod:`bot.sweep.space` turns it into points (grid, random or Optuna
TPE), :mod:`bot.sweep.trial` runs one point on one recording as an ordinary replay run
directory, :mod:`bot.sweep.backends` runs trials on local processes or a Ray cluster,
:mod:`bot.sweep.driver` schedules, persists (resumable) and ranks them by an objective of
:mod:`bot.sweep.objectives`, and :mod:`bot.sweep.html` writes the summary page.
"""
