"""The evaluation report as text: the digit models' table and the text models' lines.
"""

from __future__ import annotations


def _pm(d, pct=False) -> str:
    if pct:
        return f"{d['mean']:.1%} ± {d['std']:.1%}"
    return f"{d['mean']:.2f} ± {d['std']:.2f}"


def format_report(r: dict) -> str:
    """The report as a readable text table."""
    lines = []
    if "reference" in r:
        ref = r["reference"]
        lines += [f"judge held-out accuracy: {r['judge']['held_accuracy']:.1%}",
                  f"FD floor (real training vs held-out, n={ref['fd_floor']['n']}): {_pm(ref['fd_floor'])}",
                  f"memorisation threshold {ref['memorisation']['threshold']:.2f}; "
                  f"held-out real digits below it: {ref['memorisation']['held_out_share']:.1%}", ""]
    if r["models"]:
        lines.append(f"{'model':<16} {'guid':>4} {'label acc':>15} {'FD':>15} {'×floor':>7} {'memorised':>15}")
        for name, m in r["models"].items():
            ratio = m["fd"]["ratio_to_floor"]
            lines.append(f"{name:<16} {m['settings']['guidance']:>4.1f} {_pm(m['label_accuracy'], True):>15} "
                         f"{_pm(m['fd']):>15} {ratio if ratio is None else f'{ratio:.2f}':>7} "
                         f"{_pm(m['memorisation'], True):>15}")
        for name, m in r["models"].items():
            if "sampler_table" in m:
                lines += ["", f"{name}: sampler × steps (one draw)",
                          f"{'sampler':<8} {'steps':>5} {'label acc':>9} {'FD':>8} {'×floor':>7} {'s/sample':>8}"]
                for row in m["sampler_table"]:
                    lines.append(f"{row['sampler']:<8} {row['steps']:>5} {row['label_accuracy']:>9.1%} "
                                 f"{row['fd']:>8.2f} {row['ratio_to_floor']:>7.2f} {row['s_per_sample']:>8.3f}")
    for name, t in r.get("text_models", {}).items():
        lines.append("")
        if "missing" in t:
            lines.append(f"{name}: {t['missing']}")
            continue
        lines.append(format_text_report(name, t))
    if r.get("missing"):
        lines += ["", "not exported yet: " + ", ".join(r["missing"])]
    return "\n".join(lines)


def format_text_report(name: str, r: dict) -> str:
    """A text model's report (caption match, attention inside its shape) as a few lines of text."""
    def pct(v):
        return "–" if v is None else f"{v:.1%}"

    lines = [f"{name}: {r['n']} captions ({r['settings']['sampler']} {r['settings']['steps']}, "
             f"guidance {r['settings']['guidance']})",
             f"  one shape drawn exactly: {pct(r['one_shape_full_match'])} of {r['n_one_shape']}",
             f"  two shapes drawn exactly: {pct(r['two_shapes_full_match'])} of {r['n_two_shapes']}",
             "  two shapes, per attribute: " + ", ".join(f"{a} {pct(v)}" for a, v in r["two_shapes_attributes"].items())]
    ca = r.get("cross_attention")
    if ca:
        lines.append(f"  cross-attention mass inside the shape (uniform baseline {pct(ca['baseline'])}):")
        for tok, by_range in ca["shares"].items():
            for rng, levels in by_range.items():
                lines.append(f"    {tok:<6} {rng:<4} " + ", ".join(f"{k} {pct(v)}" for k, v in levels.items()))
        if ca.get("weights"):
            lines.append("  weight the shape's own pixels give the word (of 100% over all tokens):")
            for tok, by_range in ca["weights"].items():
                for rng, levels in by_range.items():
                    lines.append(f"    {tok:<6} {rng:<4} " + ", ".join(f"{k} {pct(v)}" for k, v in levels.items()))
    return "\n".join(lines)
