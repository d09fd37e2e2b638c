"""Tests of core.study: the grid, the protocol per cell with seeds, the table, the paper join, resume, CLI."""

from __future__ import annotations

import json
import math
import threading

import pandas as pd
import pytest
from scipy import stats

from core.engine.executors import Finished
from core.engine.lab import Lab
from core.engine.queue import JobManager
from core.engine.store import RunStore
from core.mnist import ConfigError, RunResult, TrainConfig
from core.study import PRESETS, TABLE_COLUMNS, Cell, StudyConfig, make_report, run_here as run_study, submit as submit_study
from core.study.cli import main
from core import estimate as est
from core.estimate import estimate_study
from core.study.paper import compare_with_paper, join_paper, paper_tables
from core.study.report import StudyReport
from core.study.table import at_best_epoch, cell_summary, per_seed_table, t_interval
from core.study.task import _record, done_runs, load as load_study, missing_runs, training_seconds

TINY = dict(ks=(0.5, 1.0), lrs=(0.1, 0.3), seeds=(0, 1), epochs=2, patience=1, n_train=300, n_val=200, n_test=200,
            train_eval=100, device="cpu")


@pytest.fixture
def lab(tmp_path):
    lab = Lab(RunStore(tmp_path / "runs.sqlite"), JobManager())
    yield lab
    lab.jobs.shutdown(cancel=True, timeout=30)


# ----------------------------------------------------------------------------- grid


def test_grid_is_the_product_of_cells_and_k_lr_seeds():
    """StudyConfig.grid makes datasets x layers x widths x momenta cells, each with every k x lr x seed run,
    early-stopped, multi-layer nets clipped at 100, hidden = width repeated `layers` times."""
    study = StudyConfig.grid(["mnist", "fashion-mnist"], [1, 3], [64], [0.5, 0.9], **TINY)
    assert len(study.cells) == 8 and len(study.runs()) == 8 * 2 * 2 * 2
    cell, config = study.runs()[-1]
    assert cell == Cell("fashion-mnist", 3, 64, 0.9)
    assert config.hidden == (64, 64, 64) and config.momentum == 0.9 and config.clip_norm == 100.0
    assert config.patience == 1 and config.epochs == 2 and (config.k, config.lr, config.seed) == (1.0, 0.3, 1)
    assert study.data("fashion-mnist").dataset == "fashion-mnist" and study.data("mnist").n_train == 300


def test_study_id_depends_on_numbers_only_and_k1_is_required():
    """The id changes with anything that changes a number, not with the device or the name; a grid
    without k = 1 (the baseline) or with an unknown data set is refused with a message."""
    a = StudyConfig.grid(["mnist"], [1], [64], [0.5], **TINY)
    assert a.id == StudyConfig.grid(["mnist"], [1], [64], [0.5], **{**TINY, "device": "auto"}, name="x").id
    assert a.id != StudyConfig.grid(["mnist"], [1], [64], [0.5], **{**TINY, "seeds": (0, 1, 2)}).id
    assert StudyConfig.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    with pytest.raises(ConfigError, match="include 1"):
        StudyConfig.grid(["mnist"], [1], [64], [0.5], **{**TINY, "ks": (0.5, 2.0)})
    with pytest.raises(ConfigError, match="unknown data set"):
        StudyConfig.grid(["imagenet"], [1], [64], [0.5], **TINY)


def test_presets_are_named_and_cpu_presets_are_bounded():
    """The four presets exist with their titles; the CPU presets' upper-bound estimate is under 30 minutes
    on a CPU, and the paper presets cover every cell of Tables 1, 3 and 4 (with at least the paper's ks)."""
    assert PRESETS["mnist-1layer"].title == "MNIST 1 layer (CPU, ~20 min)"
    assert PRESETS["fashion-depth"].title == "Fashion-MNIST depth 1/3/5 (CPU, ~30 min)"
    assert PRESETS["paper-table1"].title == "Paper: all of Table 1 (GPU or Ray)"
    assert PRESETS["paper-tables34"].title == "Paper: Tables 3 and 4 (GPU or Ray)"
    for name in ("mnist-1layer", "fashion-depth"):
        study = PRESETS[name].study
        assert study.device == "auto" and estimate_study(StudyConfig.from_dict(
            {**study.to_dict(), "device": "cpu"}))[1] < 30 * 60
    paper = paper_tables()
    covered = {(c.dataset, c.layers, c.width, c.momentum) for p in ("paper-table1", "paper-tables34")
               for c in PRESETS[p].study.cells}
    names = {"MNIST": "mnist", "SVHN": "svhn", "CIFAR-10": "cifar10", "CIFAR-100": "cifar100"}
    assert {(names[r.dataset], r.layers, r.width, r.momentum) for r in paper.itertuples()} <= covered
    assert set(paper["selected_k"]) <= set(PRESETS["paper-table1"].study.ks)


def test_estimate_scales_with_runs():
    """A study's upper bound grows linearly with its number of runs (one start-up per batched group)."""
    one = StudyConfig.grid(["mnist"], [1], [256], [0.5], **{**TINY, "seeds": (0,)})
    two = StudyConfig.grid(["mnist"], [1], [256], [0.5], **{**TINY, "seeds": (0, 1)})
    startup = est.STARTUP_S["cpu"]  # once per group (one here)
    assert estimate_study(two)[1] - startup == pytest.approx(2 * (estimate_study(one)[1] - startup))


# ----------------------------------------------------------------------------- the protocol per cell

CELL = Cell("mnist", 1, 400, 0.5)
# mean validation error (%) per (k, lr) over the 3 seeds below: k = 0.5 at lr 0.3 is best on the means
VAL = {(0.5, 0.1): 3.0, (0.5, 0.3): 2.0, (1.0, 0.1): 2.6, (1.0, 0.3): 2.9, (2.0, 0.1): 3.5, (2.0, 0.3): 2.2}
SEED_SHIFT = {0: {}, 1: {}, 2: {(2.0, 0.3): -0.1, (0.5, 0.3): +0.15}}  # seed 2 alone prefers k = 2
TEST = {0: (1.9, 1.7), 1: (2.1, 2.0), 2: (2.0, 1.7)}  # seed -> (test error % of k=1 lr 0.1, of k=0.5 lr 0.3)


def _synthetic(k: float, lr: float, seed: int) -> RunResult:
    """A finished run whose best validation epoch is epoch 2; epoch 3 is worse (what early stopping
    leaves behind) and carries a test error that must not be used."""
    val = (VAL[(k, lr)] + SEED_SHIFT[seed].get((k, lr), 0.0)) / 100
    test = {(1.0, 0.1): TEST[seed][0], (0.5, 0.3): TEST[seed][1]}.get((k, lr), 5.0) / 100
    ce = 0.05 + k / 100 + seed / 1000
    history = [{"epoch": 1, "val_error": val + 0.02, "val_ce": 0.5, "test_error": test + 0.02, "test_ce": 0.5},
               {"epoch": 2, "val_error": val, "val_ce": 0.1, "test_error": test, "test_ce": ce},
               {"epoch": 3, "val_error": val + 0.01, "val_ce": 0.2, "test_error": test + 0.05, "test_ce": 9.0}]
    return RunResult(TrainConfig(hidden=(400,), k=k, lr=lr, seed=seed, epochs=3, patience=1), "done", history, "cpu", 1.0)


def _cell_runs() -> list[RunResult]:
    return [_synthetic(k, lr, s) for (k, lr) in VAL for s in (0, 1, 2)]


def test_at_best_epoch_keeps_the_early_stopped_epoch():
    """A run is read at its epoch of lowest validation error (the fit summary's best_*), not its last."""
    run = at_best_epoch(_synthetic(1.0, 0.1, 0))
    assert run.final["epoch"] == 2 and run.final["test_error"] == pytest.approx(0.019)


def test_selection_per_cell_on_seed_means_and_per_seed():
    """Headline: lr per k, then k, on the seed means of the early-stopped validation error (k = 0.5 at lr
    0.3), compared with k = 1 at its own best lr (0.1); per seed, seed 2 alone picks k = 2, so k_counts
    says 0.5 twice and 2 once."""
    row = cell_summary(CELL, _cell_runs())
    assert set(row) == set(TABLE_COLUMNS)
    assert (row["selected_k"], row["selected_lr"], row["k1_lr"], row["seeds"]) == (0.5, 0.3, 0.1, 3)
    assert row["test_error_k1"] == pytest.approx(2.0) and row["test_error_selected"] == pytest.approx(1.8)
    assert row["test_error_k1_std"] == pytest.approx(0.1) and row["epochs_selected"] == 2
    assert row["test_ce_selected"] == pytest.approx(0.055 + 0.001) and row["test_ce_k1"] == pytest.approx(0.061)
    assert row["k_counts"] == "0.5:2 2:1"
    per_seed = per_seed_table({CELL: _cell_runs()})
    assert per_seed.set_index("seed")["selected_k"].to_dict() == {0: 0.5, 1: 0.5, 2: 2.0}


def test_paired_difference_interval_matches_a_hand_computation():
    """diff_test_error is the mean over seeds of (selected - k=1) test error, with the 95% t-interval
    mean ± t(0.975, n-1) * sd / sqrt(n) computed here by hand."""
    row = cell_summary(CELL, _cell_runs())
    diffs = [TEST[s][1] - TEST[s][0] for s in (0, 1, 2)]  # -0.2, -0.1, -0.3
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    half = 4.302652729911275 * sd / math.sqrt(3)  # t(0.975, 2)
    assert stats.t.ppf(0.975, 2) == pytest.approx(4.302652729911275)
    assert row["diff_test_error"] == pytest.approx(mean)
    assert (row["diff_test_error_lo"], row["diff_test_error_hi"]) == (pytest.approx(mean - half), pytest.approx(mean + half))
    assert math.isnan(t_interval([1.0])[1]) and t_interval([])[0] != t_interval([])[0]


def test_cell_without_k1_or_with_diverged_runs():
    """A cell with no finished k = 1 run cannot be compared (ValueError naming the cell); diverged runs
    and runs at chance are never selected."""
    runs = [r for r in _cell_runs() if r.config.k != 1.0]
    with pytest.raises(ValueError, match="k = 1"):
        cell_summary(CELL, runs)
    runs = _cell_runs()
    runs[3] = RunResult(runs[3].config, "diverged", runs[3].history[:1], "cpu", 1.0)  # k=0.5 lr=0.3 seed 0
    row = cell_summary(CELL, runs)
    assert (row["selected_k"], row["selected_lr"]) == (2.0, 0.3)


def _schedule_runs(val: float = 1.5, tests=(1.6, 1.5, 1.7)) -> list[RunResult]:
    """A linear 1/2 -> 2 schedule at lr 0.3: it starts at k = 0.5, the constant k the grid has too."""
    runs = []
    for seed, test in zip((0, 1, 2), tests):
        history = [{"epoch": 1, "val_error": val / 100, "val_ce": 0.1, "test_error": test / 100, "test_ce": 0.04}]
        config = TrainConfig(hidden=(400,), k_schedule="linear:1/2:2", lr=0.3, seed=seed, epochs=3, patience=1)
        runs.append(RunResult(config, "done", history, "cpu", 1.0))
    return runs


def test_k_schedules_compete_with_the_ks_and_old_studies_keep_their_id():
    """k_schedules add choices (each at every lr and seed), in their canonical text; a study without them
    has the id it had before they existed (the bundled results still match); a constant, repeated or
    unreadable schedule is refused with a message."""
    plain = StudyConfig.grid(["mnist"], [1], [64], [0.5], **TINY)
    study = StudyConfig.grid(["mnist"], [1], [64], [0.5], **TINY, k_schedules=["linear:0.25:2"])
    assert study.k_schedules == ("linear:1/4:2",) and study.choices == (0.5, 1.0, "linear:1/4:2")
    assert len(study.runs()) == 3 * 2 * 2 and study.id != plain.id
    scheduled = [c for _, c in study.runs() if c.k_schedule]
    assert len(scheduled) == 4 and {c.method for c in scheduled} == {"k=linear:1/4:2"} and scheduled[0].k == 0.25
    assert StudyConfig.from_dict(json.loads(json.dumps(study.to_dict()))) == study
    from conftest import ROOT
    for path in sorted((ROOT / "assets").glob("study_*.json")):
        saved = json.loads(path.read_text())["study"]
        assert StudyConfig.from_dict(saved).id == saved["id"], path.name
    for bad, match in (("2", "constant"), ("constant:1/2", "constant"), ("linear:1/4", "START:END"),
                       (["linear:1/4:2", "linear:0.25:2"], "repeat")):
        with pytest.raises(ConfigError, match=match):
            StudyConfig.grid(["mnist"], [1], [64], [0.5], **TINY, k_schedules=[bad] if isinstance(bad, str) else bad)


def test_a_selected_schedule_is_compared_on_its_own_runs():
    """When a schedule wins, the row names it (selected_k nan, selected_schedule its text) and its test
    figures are its own runs', not those of the constant k it starts from; the seeds' counts, the per-seed
    table and the surface name it too."""
    from core.study.table import choice_label, counts_label, selection_surface

    runs = _cell_runs() + _schedule_runs()
    row = cell_summary(CELL, runs)
    assert math.isnan(row["selected_k"]) and row["selected_schedule"] == "linear:1/2:2"
    assert (row["selected_lr"], row["k1_lr"], row["seeds"]) == (0.3, 0.1, 3)
    assert row["test_error_selected"] == pytest.approx(1.6) and row["test_error_k1"] == pytest.approx(2.0)
    assert row["diff_test_error"] == pytest.approx(1.6 - 2.0)
    assert row["k_counts"] == "linear:1/2:2:3"
    assert counts_label("0.5:2 linear:1/2:2:1") == "1/2 ×2, 1/2→2 (linear) ×1"
    assert choice_label(row["selected_k"], row["selected_schedule"]) == "1/2→2 (linear)"
    per_seed = per_seed_table({CELL: runs})
    assert set(per_seed["selected_schedule"]) == {"linear:1/2:2"} and per_seed["selected_k"].isna().all()
    surface = selection_surface(runs)
    assert len(surface) == len(VAL) + 1 and (surface["schedule"] == "linear:1/2:2").sum() == 1
    assert compare_with_paper(pd.DataFrame([row]))["selected_k_beyond"].tolist() == [False]


# ----------------------------------------------------------------------------- the paper


def test_paper_join_and_differences_beyond_the_seed_spread():
    """A cell of the paper gets its published row; a difference is flagged only when it exceeds our std
    over seeds (and k only when the paper's k is outside the ks our seeds chose); a cell the paper does
    not have gets NaN."""
    ours = pd.DataFrame([cell_summary(CELL, _cell_runs()), {**cell_summary(CELL, _cell_runs()), "width": 64}])
    joined = join_paper(ours)
    assert joined.loc[0, "paper_selected_k"] == 0.5 and joined.loc[0, "paper_test_error_k1"] == 1.76
    assert joined.loc[0, "paper_table"] == 1 and math.isnan(joined.loc[1, "paper_selected_k"])
    out = compare_with_paper(ours)
    assert out.loc[0, "test_error_k1_diff"] == pytest.approx(2.0 - 1.76)
    assert out.loc[0, "test_error_k1_beyond"]  # 2.0 vs 1.76: 0.24 > our std 0.1
    assert not out.loc[0, "test_error_selected_beyond"]  # 1.8 vs 1.74: 0.06 < our std 0.17
    assert not out.loc[0, "selected_k_beyond"]  # the paper's 0.5 is among our seeds' choices
    ours.loc[0, "k_counts"] = "2:3"
    assert compare_with_paper(ours).loc[0, "selected_k_beyond"]
    assert not out.loc[1, "test_error_k1_beyond"]


# ----------------------------------------------------------------------------- on the engine


def test_resume_skips_runs_already_done(lab):
    """A study stopped after its first finished run keeps the runs that finished (here the first cell's
    group); started again, it trains only the others (no done run is redone), and every run of the study
    is then found by its id."""
    study = StudyConfig.grid(["mnist"], [1, 2], [16], [0.5], **TINY)
    cancel = threading.Event()

    def stop_after_first(gi, event):
        if isinstance(event, Finished) and event.status == "done":
            cancel.set()

    first = run_study(lab, study, on_event=stop_after_first, cancel=cancel)
    done_first = done_runs(lab.store, study)
    assert 1 <= len(done_first) < len(study.runs()) and sum(len(r) for r in first.values()) == len(done_first)
    assert len(missing_runs(lab.store, study)) == len(study.runs()) - len(done_first)
    created_before = len(lab.store.list_runs(kind="study"))
    cells = run_study(lab, study)
    created = len(lab.store.list_runs(kind="study")) - created_before
    assert created == len(study.runs()) - len(done_first)
    done = done_runs(lab.store, study)
    assert len(done) == len(study.runs()) and set(done_first.values()) <= set(done.values())
    assert missing_runs(lab.store, study) == [] and sum(len(r) for r in cells.values()) == len(study.runs())
    run = lab.store.get_run(next(iter(done.values())))
    assert run["kind"] == "study" and run["config"]["study"]["id"] == study.id
    assert training_seconds(lab.store, study) > 0


def test_diverged_runs_count_as_finished_and_stopped_ones_train_again(lab):
    """A diverged run is an outcome (it would diverge again, and the protocol must see it to never pick its
    (k, lr)): a restart keeps it and load_study returns it; a stopped run trains again."""
    study = StudyConfig.grid(["mnist"], [1], [16], [0.5], **{**TINY, "seeds": (0,)})
    (cell, diverged), (_, stopped) = study.runs()[:2]
    data = {"dataset": "mnist"}
    for config, status in ((diverged, "diverged"), (stopped, "stopped")):
        run_id = lab.store.create_run("study", _record(study, cell, config, data), config.label)
        lab.store.log_epoch(run_id, 1, {"epoch": 1, "val_error": 0.5, "test_error": 0.5})
        lab.store.finish(run_id, status)
    assert set(done_runs(lab.store, study)) == {("mnist", diverged)}
    assert ("mnist", stopped) in {(c.dataset, t) for c, t in missing_runs(lab.store, study)}
    assert [r.status for r in load_study(lab.store, study)[cell]] == ["diverged"]


def test_submit_study_from_a_session_then_report(lab):
    """submit_study queues only the missing runs for the owner (job meta carries the study id); once done,
    the report has one row per cell with the table's columns, and a second submit queues nothing."""
    study = StudyConfig.grid(["mnist"], [1], [16], [0.5], **{**TINY, "seeds": (0,)})
    launched = submit_study(lab, study, owner="me")
    assert len(launched) == 1 and len(launched[0].run_ids) == len(study.runs())
    for job_id in launched[0].job_ids:
        assert lab.jobs.get(job_id).meta["study"] == study.id
        lab.jobs.wait(job_id, timeout=120)
    report = make_report(study, load_study(lab.store, study))
    assert list(report.table.columns[: len(TABLE_COLUMNS)]) == list(TABLE_COLUMNS) and len(report.table) == 1
    assert submit_study(lab, study, owner="me") == []
    again = StudyReport.from_json(json.loads(json.dumps(report.to_json())))
    assert again.study == study and again.table.shape == report.table.shape


def test_cli_tiny_grid_writes_json_and_csv_and_resumes(tmp_path, monkeypatch, capsys):
    """`python -m core.study` on a tiny grid trains through the run store, prints the table, writes the
    JSON (study, table, per_seed, surfaces, counts) and the CSV; run again, it trains nothing."""
    monkeypatch.setenv("TUNABLE_RUNS_DB", str(tmp_path / "runs.sqlite"))
    args = ["--dataset", "mnist", "--layers", "1", "2", "--widths", "16", "--k", "0.5", "1", "--lr", "0.1", "0.3",
            "--seeds", "0", "1", "--epochs", "2", "--patience", "1", "--n-train", "300", "--n-val", "200",
            "--n-test", "200", "--device", "cpu", "--json", str(tmp_path / "s.json"), "--csv", str(tmp_path / "s.csv")]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "16 runs, 0 already finished; to train: 16 runs, about" in err and "at most" in err
    data = json.loads((tmp_path / "s.json").read_text())
    assert set(data) == {"study", "table", "per_seed", "surfaces", "notes", "runs_done", "runs_total", "seconds"}
    assert data["runs_done"] == data["runs_total"] == 16 and len(data["table"]) == 2
    assert set(TABLE_COLUMNS) <= set(data["table"][0]) and "paper_selected_k" in data["table"][0]
    assert {r["layers"] for r in data["table"]} == {1, 2} and len(data["per_seed"]) == 4
    assert len(data["surfaces"]) == 2 * 2 * 2  # cells x k x lr
    csv = pd.read_csv(tmp_path / "s.csv")
    assert list(csv.columns[: len(TABLE_COLUMNS)]) == list(TABLE_COLUMNS)
    assert main(args[:-4]) == 0
    assert "16 already finished; to train: 0 runs" in capsys.readouterr().err


def test_cli_refuses_bad_input_with_a_message(capsys):
    """Bad flags end with exit 2 and one line naming the problem, not a traceback."""
    assert main(["--k", "0.5", "2"]) == 2 and "include 1" in capsys.readouterr().err
    assert main(["--preset", "nope"]) == 2 and "nope" in capsys.readouterr().err
    assert main(["--k-schedule", "linear:1/4"]) == 2
    err = capsys.readouterr().err
    assert "k schedule" in err and "linear:START:END" in err and len(err.strip().splitlines()) == 1


def test_cli_k_schedules_train_beside_the_ks(tmp_path, monkeypatch, capsys):
    """`--k-schedule` adds schedules to a study's choices: their runs train through the store with the
    schedule in their config, and the report's surface has a row per schedule and lr."""
    monkeypatch.setenv("TUNABLE_RUNS_DB", str(tmp_path / "runs.sqlite"))
    args = ["--dataset", "mnist", "--layers", "1", "--widths", "16", "--k", "1", "--k-schedule", "linear:1/4:2",
            "cosine:2:1/4", "--lr", "0.1", "--seeds", "0", "1", "--epochs", "2", "--patience", "1", "--n-train",
            "300", "--n-val", "200", "--n-test", "200", "--device", "cpu", "--json", str(tmp_path / "s.json")]
    assert main(args) == 0
    assert "6 runs, 0 already finished" in capsys.readouterr().err
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["study"]["k_schedules"] == ["linear:1/4:2", "cosine:2:1/4"] and data["runs_done"] == 6
    assert sorted(r["schedule"] for r in data["surfaces"]) == ["", "cosine:2:1/4", "linear:1/4:2"]
    runs = RunStore(tmp_path / "runs.sqlite").runs(kind="study")
    assert sorted(str(r["config"]["train"]["k_schedule"]) for r in runs) == ["None"] * 2 + ["cosine:2:1/4"] * 2 + [
        "linear:1/4:2"] * 2
    assert "(linear)" in " ".join(r["label"] for r in runs)


def test_cli_stops_before_training_when_a_download_only_data_set_is_missing(tmp_path, monkeypatch, capsys):
    """A study with SVHN, CIFAR-10 or CIFAR-100 not in the data directory's cache ends at once with the
    command that fetches it, before any run is created."""
    monkeypatch.setenv("TUNABLE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TUNABLE_RUNS_DB", str(tmp_path / "runs.sqlite"))
    assert main(["--dataset", "mnist", "svhn", "--k", "1", "--lr", "0.1", "--seeds", "0", "--epochs", "1"]) == 1
    assert "python -m core.data --dataset svhn" in capsys.readouterr().err
    assert RunStore(tmp_path / "runs.sqlite").list_runs().empty


def test_readme_study_tables_match_the_committed_result_files():
    """The README's study block is exactly what scripts/results.py renders from assets/study_*.json (run
    `make results` after a new result file), and it has one table row per cell of each file."""
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("results_script", ROOT / "scripts" / "results.py")
    results = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(results)
    reports = results.load_reports()
    assert reports, "no assets/study_*.json committed"
    assert results.main(["--check"]) == 0
    block = results.render()
    for name, report in reports.items():
        assert f"assets/{name}" in block
        for row in report.table.itertuples():
            assert f"{results._pm(row.test_error_selected, row.test_error_selected_std)}" in block
