"""The playground: small MLPs on 2-D data, one per k, trained side by side and animated.

What: seeded 2-D data sets with label noise and far-away outliers (`datasets`), K MLPs
stacked into one batched model from one shared initialization (`model`), the update and
evaluation they share (`steps`), a live session that trains a few steps at a time and can
be steered between them (`live`: change k or the learning rate, add or flip points), a
trainer that runs one to the end and records the boundary and each point's |f_y| every few
steps (`train`), named presets with a sentence of commentary each (`presets`), and a CLI
(`python -m core.playground`). The live session is the one exception to "every run goes
through the Lab": its runs are tiny interactive steps, neither queued nor stored.

Why: to SEE what the pseudo-gradient does. Cross-entropy (k = 1) pushes hardest on the
points it gets most wrong, so a handful of far-away mislabelled points can drag its boundary
out of place; small k weighs every wrong-ish point about equally and ignores them; large k
chases them even harder.

How:
    from core.playground import DataConfig, PlaygroundConfig, fit, PRESETS
    result = fit(PlaygroundConfig(data=DataConfig("moons", label_noise=0.2)))
    result = fit(PRESETS["outliers"].config)
    session = LiveSession(PRESETS["outliers"].config); snap = session.advance(10); session.set(k=(0.25, 4.0))
    python -m core.playground --preset outliers
    python -m core.playground --dataset moons --label-noise 0.2 --k 0.25 1 4 --steps 300 --json out.json
"""

from core.playground.config import DATASETS, DataConfig, PlaygroundConfig, PlaygroundConfigError
from core.playground.datasets import Dataset, make_dataset
from core.playground.live import LiveSession, LiveSessionError
from core.playground.train import PlaygroundResult, fit

__all__ = ["DATASETS", "DataConfig", "Dataset", "LiveSession", "LiveSessionError", "PlaygroundConfig",
           "PlaygroundConfigError", "PlaygroundResult", "fit", "make_dataset"]
