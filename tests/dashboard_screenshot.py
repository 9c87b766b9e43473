"""Retake the README's dashboard picture: the browser tests' bot (tests/dashboard_kit.py,
``mmbot run --offline`` on the bundled BTCUSDT recording) some minutes in, in headless Chromium.

    python -m tests.dashboard_screenshot docs/dashboard.png [--after 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tests.dashboard_kit import DashboardBot
from tests.test_dashboard import CHROMIUM_ARGS, chromium_path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--after", type=float, default=300.0, help="seconds of quoting before the picture")
    args = parser.parse_args()
    executable, missing = chromium_path()
    if executable is None:
        parser.error(missing)
    from playwright.sync_api import sync_playwright

    bot = DashboardBot(Path(tempfile.mkdtemp(prefix="mmbot-shot-")))
    try:
        bot.wait_quoting(timeout=120)
        time.sleep(args.after)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(bot.url + "/")
            page.wait_for_function(
                "() => window.mmbotDashboard && Object.values(window.mmbotDashboard.engines)"
                ".some(e => e.points > 5 && e.ladderOurs > 0)",
                timeout=30_000,
            )
            page.wait_for_function("() => !document.querySelector('[data-panel=obligations]').hidden")
            time.sleep(3)  # a few frames: the ladder centred, the charts scrolled to now
            page.screenshot(path=str(args.out), full_page=False)
            browser.close()
    finally:
        bot.stop()


if __name__ == "__main__":
    main()
