"""The MLP experiments of Keren, Sabato & Schuller (AAAI 2017, Section 6) on every image set of
core.data (MNIST, Fashion-MNIST, CIFAR-10/100, SVHN: `DataConfig.dataset`), trained as batched
grids, with the selection protocol in core.mnist.selection. (The package keeps the paper's name
for its headline experiment; renaming it would break every saved command and import.)

- `config`         TrainConfig, DataConfig, METRIC_KEYS, ConfigError
- `batch_trainer`  BatchTrainer: the batched model and optimizer that step many runs as one
- `group_task`     one group of runs on the engine: its events (`train_events`), the task (`train_group`)
- `task`           the verbs every experiment has: submit (pages), run_here (CLIs), load; and `fit`,
                   run_here for library use (an in-memory run store, trained weights kept)
- `selection`      the paper's protocol: lr per k, then k, on validation
- `__main__`       `python -m core.mnist train|select ...`

    from core.mnist import DataConfig, TrainConfig, fit
    results = fit([TrainConfig(k=k, lr=0.1, epochs=3) for k in (0.5, 1.0)], DataConfig(n_train=5000))
"""

from core.mnist.config import DIVERGENCE_CE, METRIC_KEYS, NUM_CLASSES, ConfigError, DataConfig, TrainConfig
from core.mnist.batch_trainer import BatchTrainer, epoch_order
from core.mnist.group_task import EpochEvent, GroupSpec, RunResult, groups_of, train_events, train_group
from core.mnist.task import fit, load, run_here, submit

__all__ = [
    "DIVERGENCE_CE", "METRIC_KEYS", "NUM_CLASSES", "BatchTrainer", "ConfigError", "DataConfig", "EpochEvent",
    "GroupSpec", "RunResult", "TrainConfig", "epoch_order", "fit", "groups_of", "load", "run_here", "submit",
    "train_events", "train_group",
]
