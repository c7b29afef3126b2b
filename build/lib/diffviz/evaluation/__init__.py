"""How good the models are: metrics, batched generation, the digit and caption reports, the judge, speed.

May import `diffviz.figures`, `diffviz.probe` and below; the commands live in `diffviz.cli`.
"""
