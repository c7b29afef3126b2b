"""Readings of what the U-Net computed: channel energies, the frequency split, attention and FiLM statistics.

Plain functions over captured tensors (and, for the FiLM and told-t sweeps, over the model).
May import `diffviz.diffusion` and below; never plotly or Streamlit.
"""
