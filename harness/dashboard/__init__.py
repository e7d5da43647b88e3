"""The results dashboard: every run under a results tree, compared, plotted, on one static page.

    collect.py    results tree -> pandas tables (runs, scores) plus what is missing
    baselines.py  published reference figures (versioned data file) -> table
    plots.py      matplotlib figures (PNG and SVG)
    page.py       the static index.html (no network needed to view it)
    compare.py    text table of ratios between two engines or systems
    cli.py        the `benchmark-dashboard` command
"""
