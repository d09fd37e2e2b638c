"""Plotly figure builders for every page: plain functions, data in, figure out (testable without a browser).

One module per area (sensitivity, toy, mnist, noise, playground, study) and one shared look (style:
colours, titles, legends, sizes). Pages may import from the area module or, as before, from here:
`from app import plots; plots.run_curves(...)`.
"""

from app.plots.mnist import final_vs_k, run_curves
from app.plots.noise import (accuracy_curves, accuracy_vs_rate, final_bars, memorization, memorized_curves,
                             objective_name, toy_error_vs_k)
from app.plots.sensitivity import hard_easy, times, update_curves, vector_bars
from app.plots.study import study_depth, study_surface
from app.plots.style import (FONT_SIZE, K_PALETTE, REFERENCE_COLORS, REFERENCE_DASH, TEMPLATE, color_distance,
                             fitted_k_axis, fitted_range, k_axis, k_colors, layout, reference_color, wrap_title)
from app.plots.toy import toy_animation, toy_distribution, toy_trace, toy_vs_k

__all__ = [
    "FONT_SIZE", "K_PALETTE", "REFERENCE_COLORS", "REFERENCE_DASH", "TEMPLATE", "accuracy_curves",
    "accuracy_vs_rate", "color_distance", "final_bars", "final_vs_k", "fitted_k_axis", "fitted_range",
    "hard_easy", "k_axis", "k_colors", "layout", "memorization", "memorized_curves", "objective_name",
    "reference_color", "run_curves", "study_depth", "study_surface", "times",
    "toy_animation", "toy_distribution", "toy_error_vs_k", "toy_trace", "toy_vs_k", "update_curves", "vector_bars",
    "wrap_title",
]
