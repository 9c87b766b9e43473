"""Run reports: a run directory's journal as one self-contained HTML page with plots and a
summary table (``mmbot report``). Entry point: :func:`bot.report.html.build_report`."""
