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


def untold_figures(at: AppTest) -> list[str]:
    """The figures of a page without a text alternative: a plotly chart (heat map, image, curve) not
    followed by its "The numbers" expander, an image without alt text. [] when every one has one."""
    bad = []

    def walk(node):
        kids = list(getattr(node, "children", {}).values())
        for i, el in enumerate(kids):
            kind = getattr(el, "type", None)
            if kind == "plotly_chart":
                after = kids[i + 1] if i + 1 < len(kids) else None
                if getattr(after, "type", None) == "flex_container" and len(getattr(after, "children", {})) == 1:
                    after = next(iter(after.children.values()))      # a keyed chart's numbers sit in their own box
                if getattr(after, "type", None) != "expander" or not after.label.startswith("The numbers"):
                    bad.append(f"a chart without its numbers: {el.proto.id}")
            elif kind == "image":
                bad.extend([f"an image without alt text: {im.caption or im.url[:40]}" for im in el.proto.imgs
                            if not im.alt.strip()])
            walk(el)
    walk(at._tree)
    return bad
