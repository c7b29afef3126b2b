"""Everything that imports Streamlit: the page side of the app.

`params` (widgets bound to URL parameters) · `settings` (the sidebar and the session's settings) ·
`runs` (the shared runs cache, first passes, noise probes) · `pictures` (held-out digits and
uploads) · `render` (charts and images) · `quality` (the measured-quality table) · `notices`
(messages, intros, "show the code") · `cache` (the bounded cache they share). The top layer:
may import every other part of diffviz; nothing imports it but `app.py` and `pages/`.
"""
