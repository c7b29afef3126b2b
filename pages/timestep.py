import streamlit as st
from diffviz import ui
s = ui.settings()
ui.intro("timestep", "placeholder", "placeholder")
