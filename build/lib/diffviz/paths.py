"""Where things live: the repository root and its `models/` folder, in one place.

Every module that needs a file of the checkout asks here instead of counting parent folders from
its own ``__file__``. ``DIFFVIZ_MODELS`` points an installed package (``pip install .``) at a
models folder elsewhere; ``DIFFVIZ_DATA`` names the folder for what the app writes (class mode's
database), ``<repo>/data/`` by default (git ignores it). Imports nothing of diffviz: it is the bottom layer.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent          # the checkout: app.py, pages/, models/
MODELS_DIR = Path(os.environ.get("DIFFVIZ_MODELS", ROOT / "models"))
DATA_DIR = Path(os.environ.get("DIFFVIZ_DATA", ROOT / "data"))    # written by the app: classes.sqlite3
