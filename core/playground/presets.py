"""Named playground settings, each with one sentence saying what to watch.

What: `PRESETS[name]` is a `Preset(title, config, commentary)`. The page shows one button per
preset (a click starts the run), the CLI takes `--preset NAME`.

Why: a teacher needs a one-click demonstration of each effect, with settings that have been
checked to show it. Every sentence holds over 5 starting points (seeds 0-4 of the weights), which
tests/test_playground.py checks; each preset trains 3 or 5 seeds, so the page shows each k's mean
accuracy and range rather than one initialization's luck.

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
        PlaygroundConfig(data=_OUTLIERS, ks=(0.25, 1.0), steps=400, seeds=3),
        "Cross-entropy reaches out to the 15 far-away mislabelled points (◆) and paints their corner red; "
        "k = 1/4 weighs them like any other wrong point and leaves them alone (from every starting point).",
    ),
    "clean": Preset(
        "Clean: all k agree",
        PlaygroundConfig(data=DataConfig("moons", points=300), ks=(0.25, 1.0, 4.0), steps=300, seeds=3),
        "Without noise or outliers every k learns the two moons; only the marker sizes differ: k = 4 leans almost "
        "entirely on the few points nearest the boundary, k = 1/4 spreads its push over many more points.",
    ),
    "label-noise": Preset(
        "Label noise: CE fits flips",
        PlaygroundConfig(data=DataConfig("xor", points=300, label_noise=0.2), ks=(0.25, 1.0), steps=500, seeds=3),
        "With 20% of labels flipped (×), cross-entropy fits more of the flipped points than k = 1/4, and its clean "
        "test accuracy ends lower (by about 5 points on average over starting points). The boundaries look alike: "
        "read the accuracies.",
    ),
    "spiral": Preset(
        "Spiral: seeds matter",
        PlaygroundConfig(data=DataConfig("spiral", points=300), ks=(0.25, 1.0, 4.0), hidden=(32, 32), steps=500,
                         seeds=5),
        "By step 200 k = 1/4 is above 90% test accuracy from every starting point; cross-entropy gets there from "
        "some and not others, and k = 4 trails (one start is still stuck at step 500: watch its range). "
        "With one seed, a single unlucky start can make any k look bad.",
    ),
    "k-family": Preset(
        "Outliers across k",
        PlaygroundConfig(data=_OUTLIERS, ks=(0.25, 0.5, 1.0, 2.0, 4.0), steps=400, seeds=5),
        "The same 15 far-away mislabelled points for five k: k = 1/4 leaves them alone from every starting point, "
        "k = 1/2 is on the edge (it fits them from some starts: see its range), and every k from 1 "
        "(cross-entropy) up paints their corner red.",
    ),
}
DEFAULT_PRESET = "outliers"  # what the page plays on first open
