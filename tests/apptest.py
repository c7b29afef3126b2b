"""Opening the app in-process with AppTest, as the app tests share it."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def app(page: str, **params) -> AppTest:
    """Run app.py on ``page`` with these query parameters (use with the ``as_served`` fixture)."""
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = str(v)
    at.switch_page(page)
    return at.run()
