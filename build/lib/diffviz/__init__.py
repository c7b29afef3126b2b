"""diffviz: a diffusion U-Net you can open up.

Sub-packages named after the architecture, layered so that imports only point down
(checked by import-linter, see pyproject.toml and docs/architecture.md):

    app | cli  →  training | evaluation  →  figures | probe  →  diffusion  →  model  →  data  →  paths

Every ``__init__`` is a docstring only: importing the model never loads plotly or Streamlit.
"""

__version__ = "0.1.0"
