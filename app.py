"""diffviz: what the U-Net does inside a diffusion model. Run: streamlit run app.py"""

import streamlit as st

from diffviz.app import notices, settings

st.set_page_config(page_title="diffviz — inside a diffusion U-Net", page_icon="🌀", layout="wide")
settings.init_torch()

OVERVIEW = "pages/overview.py"
PAGES = {
    "The process": [
        # "/" opens the overview through a hidden default twin, so /overview (the page in the navigation) opens
        # directly: a default page is served at "/" only, and its own name flashed "page not found".
        st.Page(OVERVIEW, title="1 · Overview", url_path="home", default=True, visibility="hidden"),
        st.Page("pages/overview.py", title="1 · Overview", url_path="overview"),
        st.Page("pages/forward.py", title="2 · Forward process", url_path="forward"),
        st.Page("pages/denoise.py", title="3 · Denoising, step by step", url_path="denoise"),
    ],
    "Open the U-Net": [
        st.Page("pages/inside.py", title="4 · Inside the U-Net", url_path="inside"),
        st.Page("pages/skips.py", title="5 · Skip connections", url_path="skips"),
        st.Page("pages/attention.py", title="6 · Attention", url_path="attention"),
        st.Page("pages/timestep.py", title="7 · Timestep conditioning", url_path="timestep"),
        st.Page("pages/ablation.py", title="8 · Ablation lab", url_path="ablation"),
    ],
}

# One flat list: Streamlit's sectioned navigation nests its items in <div>s inside the <ul> (invalid list
# markup for screen readers, axe-core's "list" rule); the numbered titles keep the lessons' order.
page = st.navigation([p for section in PAGES.values() for p in section])
st.session_state["settings"] = settings.sidebar(page.url_path or "overview")
notices.show_notices()
page.run()
