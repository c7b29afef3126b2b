"""Pictures, split by what they draw; no Streamlit.

`palette` (one colour per part of the U-Net, colour-blind safe) · `style` (fonts and layout) ·
`images` (PIL: grids, panels, GIFs) · `maps` (feature maps and heat maps) · `curves` (process
curves over t, bars) · `diagram` (the U-Net drawn with live shapes) · `equations` (LaTeX of the
update rules). May import `diffviz.probe` and below.
"""
