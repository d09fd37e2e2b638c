"""The example lens: which training examples each k ignores, chases or gives up on (issue 15).

- `recording`   per-example p(given), margin and log|eps_y| recorded inside the batched trainer
- `io`          one run's file, and `Dynamics` (several k side by side; the command's OUT.npz)
- `metrics`     confidence, variability, correctness, AUM, forgetting, push; regions; given up
- `detection`   AUROC / precision of each k's scores against known flips; cleanlab's reference
- `experiment`  `DatamapConfig` and its launch through the Lab (one run per k, plus the reference)
- `cli`         `python -m core.datamap --dataset mnist --noise symmetric:0.4 --k 0.25 1 --npz out.npz`
"""
