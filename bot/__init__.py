"""mmbot: a live paper-trading market-making bot (see README.md and docs/ARCHITECTURE.md).

Importing the package first decides, once per process, whether its hot path runs compiled
(mypyc) or as pure Python: :mod:`bot.buildinfo`.
"""

from pathlib import Path as _Path

from bot.buildinfo import activate as _activate

_activate(_Path(__file__).resolve().parent)
