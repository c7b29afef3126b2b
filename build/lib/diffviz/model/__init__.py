"""The U-Net and what runs with it: config, layers, the network, capture, interventions, checkpoints, zoo.

`config` (UNetConfig and presets) · `layers` (time embedding, FiLM residual block, explicit
attention, text encoder) · `unet` (encoder levels, bottleneck, decoder levels, skips) · `capture`
(per-call activations by module path) · `interventions` (ablations the U-Net reads while it runs) ·
`checkpoint` and `zoo` (safe loading, the registry). May import `diffviz.data` and `diffviz.paths`.
"""
