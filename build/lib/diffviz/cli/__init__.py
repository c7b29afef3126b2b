"""The command-line tools: thin `main`s installed as console scripts (``diffviz-train``, ``diffviz-sample``, ...).

Each also runs as ``python -m diffviz.cli.NAME`` from a checkout. May import everything below the app.
"""
