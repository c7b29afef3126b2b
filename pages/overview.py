import streamlit as st
from diffviz import ui
s = ui.settings()
ui.intro("overview", "placeholder", "placeholder")
