"""The playground: small MLPs on 2-D data, one per k, trained side by side and animated.

What: seeded 2-D data sets with label noise and far-away outliers (`datasets`), K MLPs
stacked into one batched model from one shared initialization (`model`), a trainer that
records the decision boundary and each point's |f_y| every few steps (`train`), named
presets with a sentence of commentary each (`presets`), and a CLI (`python -m core.playground`).

Why: to SEE what the pseudo-gradient does. Cross-entropy (k = 1) pushes hardest on the
points it gets most wrong, so a handful of far-away mislabelled points can drag its boundary
out of place; small k weighs every wrong-ish point about equally and ignores them; large k
chases them even harder.

How:
    from core.playground import DataConfig, PlaygroundConfig, fit, PRESETS
    result = fit(PlaygroundConfig(data=DataConfig("moons", label_noise=0.2)))
    result = fit(PRESETS["outliers"].config)
    python -m core.playground --preset outliers
    python -m core.playground --dataset moons --label-noise 0.2 --k 0.25 1 4 --steps 300 --json out.json
"""

from core.playground.config import DATASETS, DataConfig, PlaygroundConfig, PlaygroundConfigError
from core.playground.datasets import Dataset, make_dataset
from core.playground.train import PlaygroundResult, fit

__all__ = ["DATASETS", "DataConfig", "Dataset", "PlaygroundConfig", "PlaygroundConfigError", "PlaygroundResult",
           "fit", "make_dataset"]
