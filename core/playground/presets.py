"""Named playground settings, each with one sentence saying what to watch.

What: `PRESETS[name]` is a `Preset(title, config, commentary)`. The page shows one button per
preset (a click starts the run), the CLI takes `--preset NAME`.

Why: a teacher needs a one-click demonstration of each effect, with settings that have been
checked to show it (tests/test_playground.py checks the outlier preset's claim on every run).
The numbers below were picked by running each preset and looking at the animation.

    from core.playground.presets import PRESETS
    result = fit(PRESETS["outliers"].config)
"""

from __future__ import annotations

from dataclasses import dataclass

from core.playground.config import DataConfig, PlaygroundConfig


@dataclass(frozen=True)
class Preset:
    title: str  # button label
    config: PlaygroundConfig  # what runs
    commentary: str  # one sentence: what to watch in the animation


_OUTLIERS = DataConfig("blobs", points=300, outliers=15)

PRESETS: dict[str, Preset] = {
    "outliers": Preset(
        "Outliers: CE vs k = 1/4",
        PlaygroundConfig(data=_OUTLIERS, ks=(0.25, 1.0), steps=400),
        "Cross-entropy reaches out to the 15 far-away mislabelled points (◆) and paints their corner red; "
        "k = 1/4 weighs them like any other wrong point and leaves them alone.",
    ),
    "clean": Preset(
        "Clean data: all k agree",
        PlaygroundConfig(data=DataConfig("moons", points=300), ks=(0.25, 1.0, 4.0), steps=300),
        "Without noise or outliers every k learns the same two moons; only the marker sizes differ: k = 4 leans "
        "on the few points nearest the boundary, k = 1/4 on almost every point.",
    ),
    "label-noise": Preset(
        "Label noise: CE memorizes",
        PlaygroundConfig(data=DataConfig("xor", points=300, label_noise=0.2), ks=(0.25, 1.0), steps=500),
        "With 20% of labels flipped (×), cross-entropy carves islands around the flipped points and its clean "
        "test accuracy sinks; k = 1/4 keeps a simpler boundary and ends several points higher.",
    ),
    "spiral": Preset(
        "Spiral: small k learns first",
        PlaygroundConfig(data=DataConfig("spiral", points=300), ks=(0.25, 1.0, 4.0), hidden=(32, 32), steps=500),
        "k = 1/4 untangles the spiral's arms first (about 98% by step 200): every wrong point keeps a full "
        "vote, while cross-entropy and k = 4 lean on the few worst points and catch up later.",
    ),
    "k-family": Preset(
        "Outliers across k",
        PlaygroundConfig(data=_OUTLIERS, ks=(0.25, 0.5, 1.0, 2.0, 4.0), steps=400),
        "The same 15 far-away mislabelled points for five k: k = 1/4 and 1/2 leave them alone, every k from 1 "
        "(cross-entropy) up paints their corner red.",
    ),
}
DEFAULT_PRESET = "outliers"  # what the page plays on first open
