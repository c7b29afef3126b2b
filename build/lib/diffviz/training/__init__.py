"""How the models were trained: the recipe (loss, weights, learning rate), batches, states, the loop, grounding.

May import `diffviz.figures`, `diffviz.probe` and below; the command line lives in `diffviz.cli.train`.
"""
