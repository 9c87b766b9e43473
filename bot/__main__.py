"""``python -m bot`` is the same as the ``mmbot`` command."""

from bot.cli import main

raise SystemExit(main())
