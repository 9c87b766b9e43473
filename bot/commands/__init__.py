"""One module per ``mmbot`` subcommand; see ``bot/cli.py``."""
