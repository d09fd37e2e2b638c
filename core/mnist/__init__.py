"""The MLP experiments of Keren, Sabato & Schuller (AAAI 2017, Section 6): MNIST and the paper's
other image sets, trained as batched grids, with the selection protocol in core.mnist.selection.

- `config`   TrainConfig, DataConfig, METRIC_KEYS, ConfigError
- `trainer`  BatchTrainer: many runs of one architecture as one stacked model
- `training` the events of one group (`train_events`, the engine task `train_group`) and `fit`
- `task`     on the engine: submit (pages), run_here (CLIs), load
- `__main__` `python -m core.mnist train|select ...`

    from core.mnist import DataConfig, TrainConfig, fit
    results = fit([TrainConfig(k=k, lr=0.1, epochs=3) for k in (0.5, 1.0)], DataConfig(n_train=5000))
"""

from core.mnist.config import DIVERGENCE_CE, METRIC_KEYS, NUM_CLASSES, ConfigError, DataConfig, TrainConfig
from core.mnist.training import EpochEvent, GroupSpec, RunResult, fit, groups_of, train_events, train_group
from core.mnist.trainer import BatchTrainer, epoch_order

__all__ = [
    "DIVERGENCE_CE", "METRIC_KEYS", "NUM_CLASSES", "BatchTrainer", "ConfigError", "DataConfig", "EpochEvent",
    "GroupSpec", "RunResult", "TrainConfig", "epoch_order", "fit", "groups_of", "train_events", "train_group",
]
