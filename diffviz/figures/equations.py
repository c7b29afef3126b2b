"""The update rules as LaTeX with the numbers of the current step: forward process, x̂0, DDIM, DDPM.
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------- equations (LaTeX strings for st.latex)

def forward_equation(t: int, alpha_bar: float) -> str:
    """x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε with this t's numbers filled in."""
    a, b = np.sqrt(alpha_bar), np.sqrt(1 - alpha_bar)
    return (rf"x_{{{t}}} = \sqrt{{\bar\alpha_{{{t}}}}}\,x_0 + \sqrt{{1-\bar\alpha_{{{t}}}}}\,\varepsilon"
            rf" = \sqrt{{{alpha_bar:.4f}}}\,x_0 + \sqrt{{{1 - alpha_bar:.4f}}}\,\varepsilon"
            rf" = {a:.3f}\,x_0 + {b:.3f}\,\varepsilon")


def pred_x0_equation(t: int, alpha_bar: float) -> str:
    """x̂0 = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t with the numbers."""
    return (rf"\hat x_0 = \frac{{x_{{{t}}} - \sqrt{{1-\bar\alpha_{{{t}}}}}\,\hat\varepsilon}}"
            rf"{{\sqrt{{\bar\alpha_{{{t}}}}}}}"
            rf" = \frac{{x_{{{t}}} - {np.sqrt(1 - alpha_bar):.3f}\,\hat\varepsilon}}{{{np.sqrt(alpha_bar):.4f}}}")


def _prev_name(prev_t: int) -> str:
    return "x_0" if prev_t < 0 else f"x_{{{prev_t}}}"


def ddim_equation(t: int, prev_t: int, alpha_bar: float, alpha_bar_prev: float) -> str:
    """DDIM (η = 0): x_prev = √ᾱ_prev·x̂0 + √(1−ᾱ_prev)·ε̂, with the numbers."""
    p = "0" if prev_t < 0 else str(prev_t)
    a, b = np.sqrt(alpha_bar_prev), np.sqrt(max(1 - alpha_bar_prev, 0.0))
    return (rf"{_prev_name(prev_t)} = \sqrt{{\bar\alpha_{{{p}}}}}\,\hat x_0"
            rf" + \sqrt{{1-\bar\alpha_{{{p}}}}}\,\hat\varepsilon = {a:.3f}\,\hat x_0 + {b:.3f}\,\hat\varepsilon")


def ddpm_coefficients(alpha_bar: float, alpha_bar_prev: float, last: bool) -> tuple[float, float, float]:
    """(c0, ct, σ) of DDPM's x_prev = c0·x̂0 + ct·x_t + σ·z for a (possibly strided) step."""
    beta = 1 - alpha_bar / alpha_bar_prev
    c0 = np.sqrt(alpha_bar_prev) * beta / (1 - alpha_bar)
    ct = np.sqrt(1 - beta) * (1 - alpha_bar_prev) / (1 - alpha_bar)
    sigma = 0.0 if last else float(np.sqrt(max((1 - alpha_bar_prev) / (1 - alpha_bar) * beta, 1e-20)))
    return float(c0), float(ct), sigma


def ddpm_equation(t: int, prev_t: int, alpha_bar: float, alpha_bar_prev: float) -> str:
    """DDPM: x_prev = c0·x̂0 + ct·x_t + σ·z (fresh noise z), with the numbers."""
    c0, ct, sigma = ddpm_coefficients(alpha_bar, alpha_bar_prev, last=t == 0)
    shown = sigma >= 5e-4                      # the last step's σ is ~0: no fresh noise
    noise = rf" + \sigma_{{{t}}}\,z" if shown else ""
    num = rf" + {sigma:.3f}\,z" if shown else ""
    return (rf"{_prev_name(prev_t)} = c_0\,\hat x_0 + c_t\,x_{{{t}}}{noise}"
            rf" = {c0:.3f}\,\hat x_0 + {ct:.3f}\,x_{{{t}}}{num}")
