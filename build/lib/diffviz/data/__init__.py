"""The data the models learn from and the inputs a learner brings.

The MNIST split (`digits`), the captioned shapes and their checker (`shapes`, `shapes_check`), the
caption tokenizer (`text`), and turning an upload into a model input (`uploads`), with the pixel
conversions they share (`pixels`). May import only `diffviz.paths`.
"""
