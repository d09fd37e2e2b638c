"""Tests of the Plotly builders in app/plots.py (no browser): colours, axes, label positions, fonts."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from app import plots
from core.curves import REFERENCE_LOSSES, curves_frame, hard_easy_curve, hard_easy_ratio, reference_ratios


def _delta_e(a: str, b: str) -> float:
    """CIE76 colour difference, computed here independently of app.plots."""
    def lab(color: str):
        rgb = [int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb)
        x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
        y = 0.2126 * r + 0.7152 * g + 0.0722 * b
        z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
        f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z)]
        return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])
    return math.dist(lab(a), lab(b))


def test_neighbouring_powers_of_two_differ_strongly():
    """Adjacent k = 2^e and 2^(e+1), from 1/64 to 16, get colours at least ΔE 35 apart; k = 1 is black."""
    ks = [2.0**e for e in range(-6, 5)]
    colors = plots.k_colors(ks)
    for a, b in zip(ks, ks[1:]):
        assert _delta_e(colors[a], colors[b]) >= 35, (a, b, colors[a], colors[b])
    assert colors[1.0] == "#111111"


def test_the_presets_are_all_distinct_and_stable():
    """The k presets every page offers (1/16 ... 8) differ pairwise (ΔE ≥ 30), and a k keeps its colour
    whatever else is drawn beside it."""
    ks = [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8]
    colors = plots.k_colors(ks)
    for a, b in itertools.combinations(ks, 2):
        assert _delta_e(colors[a], colors[b]) >= 30, (a, b)
    assert plots.k_colors([1 / 4, 2])[1 / 4] == colors[1 / 4] and plots.k_colors([2])[2] == colors[2]


@pytest.mark.parametrize("ks", [[0.25, 0.3, 0.5], [0.3, 0.35, 0.4, 1], [1, 1.5, 2, 3, 4], [0.01, 1 / 64, 1 / 32]])
def test_typed_k_values_get_a_colour_of_their_own(ks):
    """k values that are not powers of two get colours clearly different (ΔE ≥ 25) from every other k drawn."""
    colors = plots.k_colors(ks)
    for a, b in itertools.combinations(ks, 2):
        assert _delta_e(colors[a], colors[b]) >= 25, (a, b, colors)


def test_reference_losses_differ_in_colour_not_only_dash():
    """On the update-size chart every reference loss has its own colour, apart from each other (ΔE ≥ 25)."""
    df = curves_frame([0.25, 0.5, 4], list(REFERENCE_LOSSES))  # without k = 1, cross-entropy is an overlay too
    fig = plots.update_curves(df)
    refs = [t for t in fig.data if not t.name.startswith("k = ")]
    assert len(refs) == len(REFERENCE_LOSSES)
    for a, b in itertools.combinations(refs, 2):
        assert _delta_e(a.line.color, b.line.color) >= 25, (a.name, b.name)
    assert plots.reference_color("GCE (q=0.7)") == plots.reference_color("gce") != plots.reference_color("mae")


def test_log_log_update_sizes_do_not_run_down_to_1e_minus_15():
    """On log axes the y range starts near (smallest |ε_y|)² = 1e-8, not at k = 4's 1e-16."""
    df = curves_frame([1 / 16, 1, 4], ["ce", "focal"], log_x=True)
    assert df["size"].min() < 1e-14  # the data do go that low
    fig = plots.update_curves(df, log_axes=True)
    lo, hi = fig.layout.yaxis.range
    assert -8.5 <= lo <= -7.5 and 0 <= hi <= 0.5
    assert fig.layout.yaxis.type == "log"


def test_hard_easy_labels_sit_at_their_lines_inside_the_chart():
    """Each reference label is placed at log10 of its ratio (Plotly's rule for annotations on a log axis),
    inside the y range, and labels of close lines are pushed apart rather than drawn on top of each other."""
    hard, easy = 0.9, 0.1
    grid, ratios = hard_easy_curve(hard, easy)
    refs = reference_ratios(["ce", "mae", "gce", "focal"], hard, easy)
    chosen = {k: float(hard_easy_ratio(k, hard, easy)) for k in (0.5, 2)}
    fig = plots.hard_easy(grid, ratios, chosen, refs, hard, easy)
    lo, hi = fig.layout.yaxis.range
    notes = {a.text.split(":")[0]: a for a in fig.layout.annotations}
    assert set(notes) == set(refs)
    for name, r in refs.items():
        y = notes[name].y
        assert lo < y < hi, name
        assert abs(y - math.log10(r)) < 0.12 * (hi - lo), (name, y, math.log10(r))
    assert notes["Cross-entropy"].y < 2  # 9x sits near 10^0.95, not near 10^9
    ys = sorted(a.y for a in notes.values())
    assert min(np.diff(ys)) >= 0.06 * (hi - lo)
    # every line is drawn at its ratio, in the loss's colour
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert sorted(s.y0 for s in lines) == pytest.approx(sorted(refs.values()))
    assert {s.line.color for s in lines} == {plots.reference_color(n) for n in refs}


def test_hard_easy_focal_label_stays_inside_when_its_ratio_is_the_largest():
    """A reference far above the k curve's range (focal with a large γ) still gets its label inside the chart."""
    hard, easy = 0.99, 0.01
    grid, ratios = hard_easy_curve(hard, easy)
    refs = reference_ratios(["ce", "focal"], hard, easy, gamma=5.0)
    fig = plots.hard_easy(grid, ratios, {1.0: float(hard_easy_ratio(1.0, hard, easy))}, refs, hard, easy)
    lo, hi = fig.layout.yaxis.range
    assert all(lo < a.y < hi for a in fig.layout.annotations)
    assert [t.name for t in fig.data if t.mode == "markers+text"] == ["k = 1"]


def test_k_is_written_one_way_on_k_axes_and_marks():
    """Marks, legends and log2 k ticks write k as core.curves.format_k does (1/4, not 0.25)."""
    grid, ratios = hard_easy_curve()
    fig = plots.hard_easy(grid, ratios, {0.25: 1.7}, {"Cross-entropy": 9.0}, 0.9, 0.1)
    assert "k = 1/4" in [t.name for t in fig.data]
    assert list(fig.layout.xaxis.ticktext[:3]) == ["1/64", "1/32", "1/16"]
    noise = pd.DataFrame(dict(method=["tunable:k=0.25", "ce", "gce"], objective=["k = 0.25", "CE", "GCE (q=0.7)"],
                              k=[0.25, 1.0, math.nan], rate=0.4, test_acc_mean=[0.9, 0.88, 0.91],
                              test_acc_std=[0.01, 0.01, 0.0]))
    bars = plots.final_bars(noise, 0.4)
    assert list(bars.data[0].y) == ["k = 1/4", "CE", "GCE (q=0.7)"]


def test_bar_charts_start_at_zero():
    """The final-accuracy bars start at 0, however close the accuracies are."""
    table = pd.DataFrame(dict(method=["ce", "gce"], objective=["CE", "GCE"], k=[1.0, math.nan], rate=0.4,
                              test_acc_mean=[0.95, 0.96], test_acc_std=[0.001, 0.002]))
    assert plots.final_bars(table, 0.4).layout.xaxis.range[0] == 0


def test_legends_are_readable_on_a_projector():
    """Every builder's legend (and text, axis titles) uses a font of at least 14 px, tick labels 13 px."""
    df = curves_frame([0.5, 1], ["ce"])
    history = pd.DataFrame(dict(run_id=[1, 1], epoch=[1, 2], val_error=[0.2, 0.1]))
    figs = [plots.update_curves(df), plots.run_curves(history, {1: "k = 1"}, "val_error", "t", "y", {1: 1.0}),
            plots.hard_easy(*hard_easy_curve(), {1.0: 9.0}, {"Cross-entropy": 9.0}, 0.9, 0.1)]
    for fig in figs:
        assert fig.layout.legend.font.size >= 14 and fig.layout.font.size >= 14
        assert fig.layout.xaxis.tickfont.size >= 13 and fig.layout.yaxis.title.font.size >= 14


def test_noise_rates_differ_by_more_than_shade_on_the_toy_chart():
    """Each noise rate's line has its own dash and marker shape; its markers are filled with their k's colour."""
    table = pd.DataFrame([dict(k=k, rate=r, test_error_mean=0.03 + r / 10, test_error_std=0.002)
                          for r in (0.0, 0.2, 0.4) for k in (1 / 16, 1, 4)])
    fig = plots.toy_error_vs_k(table)
    lines = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in lines] == ["noise 0%", "noise 20%", "noise 40%"]
    assert len({t.line.dash for t in lines}) == 3 and len({t.marker.symbol for t in lines}) == 3
    dots = [t for t in fig.data if t.showlegend is False]
    assert list(dots[0].marker.color) == [plots.k_colors([1 / 16, 1, 4])[k] for k in (1 / 16, 1, 4)]


def _figures() -> dict:
    """One figure from each builder that takes tables, on small made-up data."""
    from core.results import group_runs

    df = curves_frame([0.5, 1, 2], ["ce", "mae", "focal"])
    history = pd.DataFrame(dict(run_id=[1, 1, 2, 2], epoch=[1, 2, 1, 2], val_error=[0.2, 0.1, 0.3, 0.2]))
    runs = pd.DataFrame(dict(id=[1, 2, 3, 4], status="done", k=[0.5, 0.5, 1.0, 1.0], lr=0.1, seed=[0, 1, 0, 1],
                             err=[0.1, 0.12, 0.11, 0.13]))
    groups = group_runs(runs, ["k", "lr"], ["err"], seed="seed").groups
    cv = pd.DataFrame([dict(method=m, objective=o, k=k, lr=0.1, weight_decay=0.0, rate=0.4, epoch=e, seeds=2,
                            test_acc=0.8 + e / 100, test_acc_std=0.01, train_acc_noisy=0.5 + e / 50,
                            train_acc_true=0.7 + e / 50, memorized=0.05, corrected=0.7, test_ce=0.5)
                       for m, o, k in (("ce", "CE", 1.0), ("gce", "GCE (q=0.7)", math.nan)) for e in (1, 2, 3)])
    table = pd.DataFrame(dict(method=["ce", "gce"], objective=["CE", "GCE (q=0.7)"], k=[1.0, math.nan], rate=0.4,
                              test_acc_mean=[0.9, 0.91], test_acc_std=[0.01, 0.0]))
    per_k = pd.DataFrame(dict(k=[4.0, 1.0, 0.25], test_error_mean=[8.4, 5.0, 4.0], test_error_std=[0.2, 0.2, 0.2]))
    population = pd.DataFrame(dict(k=[2.0**e for e in range(-6, 5)], error=[2.5 + e for e in range(11)]))
    return {
        "update": plots.update_curves(df), "ratio": plots.hard_easy(*hard_easy_curve(), {1.0: 9.0},
                                                                     {"Cross-entropy": 9.0}, 0.9, 0.1),
        "runs": plots.run_curves(history, {1: "a", 2: "b"}, "val_error", "Validation error", "%", {1: 0.5, 2: 1.0}),
        "vs_k": plots.final_vs_k(groups, "err", "Final test error against k", "test error (%)", series={"lr": "lr"}),
        "acc": plots.accuracy_curves(cv, 0.4), "mem": plots.memorization(cv, 0.4), "bars": plots.final_bars(table, 0.4),
        "toy_k": plots.toy_vs_k(per_k, "test_error", "Test error against k", "test error (%)", population, "error"),
    }


def test_titles_are_one_line_and_legends_never_beside_the_plot():
    """Every builder's title is one line of at most TITLE_CHARS (details go to the subtitle), and its legend is
    below the plot, inside it or hidden: never a column beside it that takes the plot's width."""
    for name, fig in _figures().items():
        title = fig.layout.title.text
        assert "<br>" not in title and len(title) <= plots.style.TITLE_CHARS, (name, title)
        legend = fig.layout.legend
        assert legend.orientation == "h" or legend.x is not None or fig.layout.showlegend is False, name
        assert fig.layout.margin.t >= 36 and fig.layout.height - fig.layout.margin.t - fig.layout.margin.b >= 180, name


def test_long_titles_split_into_a_title_and_a_subtitle():
    """A title too long for one line keeps its head; the rest moves to the subtitle line."""
    title, subtitle = plots.style.split_title("Validation error over (k, lr): MNIST · 1 × 400 · momentum 0.5")
    assert title == "Validation error over (k, lr)" and subtitle == "MNIST · 1 × 400 · momentum 0.5"


def test_against_k_axes_fit_the_measured_values():
    """The toy's against-k chart spans the measured k (1/4 to 4, not 1/64 to 16) and its y axis the measured
    means ± std, so the population curve (up to 12.5) may leave the frame without flattening the points."""
    fig = _figures()["toy_k"]
    lo, hi = fig.layout.xaxis.range
    assert 10**lo <= 0.25 < 4 <= 10**hi and 10**lo > 1 / 16 and 10**hi < 16  # Plotly: log10 units
    assert list(fig.layout.xaxis.ticktext) == ["1/4", "1/2", "1", "2", "4"]
    y0, y1 = fig.layout.yaxis.range
    assert y0 < 3.8 and 8.6 < y1 < 10


def test_memorization_view_fits_its_data_and_the_star():
    """The memorization view's axes span the paths and the 'ignores every flip' star, not 0-100."""
    fig = _figures()["mem"]
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    assert 45 < x0 < 52 and 60 <= x1 < 70 and 65 < y0 < 72 and 100 <= y1 < 105


def test_study_figures_show_a_k_schedule_by_its_label():
    """A cell whose choice is a k schedule: the (k, lr) heatmap has a row for the schedule beside the
    constant k it starts from, circled when selected; the depth figure, which has no single k to draw
    for it, says how many such choices it leaves out."""
    from core.study.table import per_seed_table, selection_surface, study_table
    from tests.test_study import CELL, _cell_runs, _schedule_runs

    runs = {CELL: _cell_runs() + _schedule_runs()}
    table, _ = study_table(runs)
    surface = selection_surface(runs[CELL])
    fig = plots.study_surface(surface, "cell", selected=("1/2→2 (linear)", 0.3), baseline=("1", 0.1))
    heat = fig.data[0]
    assert list(heat.y) == ["1/2", "1", "2", "1/2→2 (linear)"] and list(heat.x) == ["0.1", "0.3"]
    assert fig.data[2].y == ("1/2→2 (linear)",) and not math.isnan(heat.z[3][1])
    depth = plots.study_depth(table, per_seed_table(runs))
    assert "4 choice(s) of a k schedule are not drawn" in depth.layout.title.subtitle.text
