"""The diffusion maths around the U-Net: noise schedules, the DDPM and DDIM samplers, the step generator.

`schedulers` (β schedules, ᾱ, DDPM/DDIM steps) · `sampling` (the reverse process as a generator
and its `Trajectory`) · `defaults` (the app's sampler settings). May import `diffviz.model` and below.
"""
