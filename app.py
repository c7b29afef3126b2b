"""diffviz: what the U-Net does inside a diffusion model. Run: streamlit run app.py"""

import streamlit as st

from diffviz.app import class_mode, lessons, notices, settings, waiting

st.set_page_config(page_title="diffviz — inside a diffusion U-Net", page_icon="🌀", layout="wide")
settings.init_torch()
waiting.pace()                          # a client flooding reruns cannot run the page 20 times a second

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
    "Bring your own": [
        st.Page("pages/your-digit.py", title="9 · Your digit", url_path="your-digit"),
    ],
    "Teach": [
        st.Page("pages/class.py", title="Teach a class", url_path="class"),
    ],
}

# One flat list: Streamlit's sectioned navigation nests its items in <div>s inside the <ul> (invalid list
# markup for screen readers, axe-core's "list" rule); the numbered titles keep the lessons' order.
page = st.navigation([p for section in PAGES.values() for p in section])
lessons.follow(page, PAGES)                       # a lesson link (or Next, or Back) opens its step
class_mode.follow(page, PAGES)                    # a join link opens the class page; a class follows its step
st.session_state["settings"] = settings.sidebar("overview" if page.url_path in ("", "home") else page.url_path)
notices.show_notices()
if not class_mode.panel(page):                    # a class member's box, else the guided path's (and presenter mode)
    lessons.panel(st.session_state["settings"], page, PAGES)
page.run()
