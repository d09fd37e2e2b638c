"""`python -m core.playground`: train K models side by side on 2-D data and print (or save) their accuracies.

    python -m core.playground --preset outliers
    python -m core.playground --dataset moons --label-noise 0.2 --k 0.25 1 4 --steps 300 --json out.json
    python -m core.playground --list-presets | --help

Flags given next to --preset override the preset's values. The JSON has `config`, `runs` (one entry per
k: k, train_acc, test_acc, train_loss), `train_seconds` (the training loop, snapshots included),
`device` and `run_id` (the run store's id; None if it could not be saved).
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from core.cli import CliError, Parser, check_outputs, count, finite, k_value, main_of, positive
from core.kvalue import format_k, parse_k
from core.playground.config import ACTIVATIONS, DATASETS, PlaygroundConfig, PlaygroundConfigError
from core.playground.presets import PRESETS
from core.playground.runs import last_store_error, run_and_record

# flag -> (config field, where it lives)
_DATA_FLAGS = {"dataset": "dataset", "points": "points", "label_noise": "label_noise", "outliers": "outliers",
               "test_points": "test_points", "seed": "seed", "data_seed": "seed"}  # --data-seed wins over --seed
_TRAIN_FLAGS = {"k": "ks", "hidden": "hidden", "activation": "activation", "lr": "lr", "steps": "steps",
                "batch_size": "batch_size", "frames": "frames", "grid": "grid", "seed": "seed", "seeds": "seeds"}


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m core.playground", description=__doc__.splitlines()[0],
               formatter_class=argparse.ArgumentDefaultsHelpFormatter,
               epilog="Exit status: 0 done, 1 the environment, 2 bad arguments, 130 Ctrl-C.")
    p.add_argument("--preset", choices=list(PRESETS), default=None, help="start from a named preset")
    p.add_argument("--list-presets", action="store_true", help="print the presets and exit")
    p.add_argument("--dataset", choices=DATASETS, default=None, help="2-D data set (default moons)")
    p.add_argument("--points", type=count(1), default=None, help="training points before outliers (default 300)")
    p.add_argument("--label-noise", type=finite, default=None, help="fraction of training labels flipped, [0, 0.5)")
    p.add_argument("--outliers", type=count(0), default=None, help="far-away training points with wrong labels")
    p.add_argument("--test-points", type=count(1), default=None, help="clean held-out points (default 1000)")
    p.add_argument("--k", nargs="+", type=k_value, default=None, help="k values, e.g. 0.25 1 4 or 1/4 1 4 (default 1/4 1 4)")
    p.add_argument("--hidden", nargs="+", default=None, help="hidden widths, e.g. 16 16 or 16,16 (default 16 16)")
    p.add_argument("--activation", choices=list(ACTIVATIONS), default=None, help="hidden activation (default tanh)")
    p.add_argument("--lr", type=positive, default=None, help="Adam learning rate, the same for every k (default 0.03)")
    p.add_argument("--steps", type=count(1), default=None, help="Adam updates (default 300)")
    p.add_argument("--batch-size", type=count(0), default=None, help="points per update, 0 = full batch (default 0)")
    p.add_argument("--frames", type=count(1), default=None, help="snapshots recorded (default 40)")
    p.add_argument("--grid", type=count(2), default=None, help="boundary grid size per side (default 50)")
    p.add_argument("--seed", type=count(0, 2**31 - 1), default=None, help="data, initial weights and batch order (default 0)")
    p.add_argument("--data-seed", type=count(0, 2**31 - 1), default=None, help="the data's own seed, if not --seed")
    p.add_argument("--seeds", type=count(1), default=None,
                   help="initializations per k (seed, seed + 1, ...): accuracies are their mean (default 1)")
    p.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, mps")
    p.add_argument("--threads", type=count(1, 1024), default=1, help="torch CPU threads (the models are tiny: 1 is as fast)")
    p.add_argument("--json", default=None, metavar="FILE", help="write the results as JSON here")
    p.add_argument("--quiet", action="store_true", help="print nothing (with --json: just write the file)")
    return p


def build_config(args: argparse.Namespace) -> PlaygroundConfig:
    """The preset (or the defaults) with every flag that was given applied on top."""
    from core.mlp import parse_widths

    base = PRESETS[args.preset].config if args.preset else PlaygroundConfig()
    given = {name: value for name, value in vars(args).items() if value is not None}
    if "k" in given:
        given["k"] = tuple(k if isinstance(k, float) else parse_k(k) for k in given["k"])
    if "hidden" in given:
        given["hidden"] = parse_widths(" ".join(given["hidden"]), max_width=256, max_layers=4)
    data = dataclasses.replace(base.data, **{f: given[a] for a, f in _DATA_FLAGS.items() if a in given})
    return dataclasses.replace(base, data=data, **{f: given[a] for a, f in _TRAIN_FLAGS.items() if a in given})


def command_for(cfg: PlaygroundConfig) -> str:
    """The shell command that trains `cfg` (settings at their default are left out)."""
    d, base = cfg.data, PlaygroundConfig()
    args = ["python -m core.playground", f"--dataset {d.dataset}", f"--points {d.points}"]
    args += [f"--label-noise {d.label_noise:g}"] if d.label_noise else []
    args += [f"--outliers {d.outliers}"] if d.outliers else []
    args += [f"--test-points {d.test_points}"] if d.test_points != base.data.test_points else []
    args.append("--k " + " ".join(format_k(k) for k in cfg.ks))
    for flag, value, default in (("--hidden", " ".join(map(str, cfg.hidden)), " ".join(map(str, base.hidden))),
                                 ("--activation", cfg.activation, base.activation), ("--lr", f"{cfg.lr:g}", f"{base.lr:g}"),
                                 ("--steps", cfg.steps, None), ("--batch-size", cfg.batch_size, base.batch_size),
                                 ("--frames", cfg.frames, base.frames), ("--grid", cfg.grid, base.grid),
                                 ("--seeds", cfg.seeds, base.seeds)):
        if value != default:
            args.append(f"{flag} {value}")
    if cfg.seed != 0:
        args.append(f"--seed {cfg.seed}")  # sets the data's seed too, as the page does
    if d.seed != cfg.seed:
        args.append(f"--data-seed {d.seed}")
    return " ".join(args)


def _table(result, run_id) -> str:
    d, cfg = result.config.data, result.config
    head = (f"{d.dataset}: {d.points} points ({d.label_noise:.0%} labels flipped, {d.outliers} outliers), "
            f"{len(cfg.ks)} k x {cfg.seeds} seed(s) x {cfg.steps} Adam steps on {result.device}: "
            f"{result.train_seconds:.2f} s"
            + (f" (run {run_id})" if run_id is not None else " (not saved: " + str(last_store_error()) + ")"))
    lines = [head + ("; accuracies are means over the seeds" if cfg.seeds > 1 else ""),
             f"{'k':<8}{'train acc':>11}{'test acc':>10}{'train CE':>10}"]
    for run in result.runs():
        lines.append(f"{format_k(run['k']):<8}{run['train_acc']:>10.1%}{run['test_acc']:>10.1%}"
                     f"{run['train_loss']:>10.3f}")
    return "\n".join(lines)


def _body(args: argparse.Namespace) -> int:
    if args.list_presets:
        for name, preset in PRESETS.items():
            print(f"{name:<12} {preset.title}: {preset.commentary}")
        return 0
    check_outputs(args, ("json",))
    try:
        cfg = build_config(args)
    except PlaygroundConfigError as exc:
        raise CliError(str(exc)) from None
    result, run_id = run_and_record(cfg, device=args.device, threads=args.threads)  # --threads is a count >= 1
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": cfg.to_dict(), "runs": result.runs(), "train_seconds": result.train_seconds,
                       "device": result.device, "run_id": run_id}, f, indent=2)
    if not args.quiet:
        print(_table(result, run_id))
    return 0


main = main_of(_parser(), _body)
