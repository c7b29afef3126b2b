"""diffviz: a diffusion U-Net you can open up.

The library behind the app: the U-Net (`unet`), its building blocks (`layers`), the noise
schedules and samplers (`schedulers`), per-step instrumentation (`capture`), the sampling loop
(`sampling`), data, training, evaluation and figures. Nothing here imports Streamlit except `ui`.
"""

__version__ = "0.1.0"
