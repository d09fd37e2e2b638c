"""Example lens: what did k do to each training example? Data maps, the hardest images, whom each k
ignores, and how well each k's training dynamics find the flipped labels (core.datamap)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app.live import live_jobs, outside_runs
from app.plots import datamap as charts
from app.plots import run_curves
from app.state import get_lab
from app.views.datamap_form import EXAMPLE_ID, launch_form, read_url, set_defaults, write_url
from app.widgets import pick_saved
from core.curves import format_k
from core.data import DatasetUnavailableError, load_dataset
from core.datamap import detection, metrics
from core.datamap.experiment import launches, load_launch
from core.datamap.io import Dynamics, DynamicsFileError, class_names

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "assets" / "datamap_example.npz"  # the Quick preset's result, shown before any launch
lab = get_lab()


def draw_live(job) -> None:
    """Each k's training error (against the labels it trains on) while it trains, from the job itself
    (no database read per poll)."""
    rows = [{"run_id": rid, **row} for rid, curve in job.data.get("curves", {}).items() for row in curve]
    if rows:
        configs = job.meta["configs"]
        ks = {rid: c["train"]["k"] for rid, c in configs.items() if "train" in c}
        labels = {rid: f"k = {format_k(k)}" for rid, k in ks.items()}
        st.plotly_chart(run_curves(pd.DataFrame(rows), labels, "train_error", "Training error against the given "
                                   "labels (live)", "training error (%)", ks, percent=True), key=f"dm_live_{job.id}")


def draw_outside(ids: list[int]) -> None:
    """Each k's training error for launches training in another process (`python -m core.datamap`),
    read from the store as each epoch is saved."""
    history = lab.store.history(ids)
    if history.empty:
        st.info("They have not finished an epoch yet.")
        return
    runs = lab.store.list_runs(kind="datamap").set_index("id").reindex(ids)
    ks = {rid: k for rid, k in runs.get("cfg.train.k", pd.Series(dtype=float)).items() if pd.notna(k)}
    labels = {rid: f"k = {format_k(k)}" for rid, k in ks.items()}
    st.plotly_chart(run_curves(history[history["run_id"].isin(list(ks))], labels, "train_error",
                               "Training error against the given labels (live)", "training error (%)", ks,
                               percent=True), key="dm_outside")


@st.cache_data(show_spinner="Reading the recorded dynamics…", max_entries=8)
def _load(launch: str, signature: str) -> Dynamics:
    """A launch's Dynamics (signature: its runs' statuses, so a finished run is read again)."""
    return Dynamics.load(EXAMPLE) if launch == EXAMPLE_ID else load_launch(lab.store, launch)


@st.cache_data(show_spinner=False, max_entries=8)
def _analyse(launch: str, signature: str) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    dyn = _load(launch, signature)
    scores = metrics.per_example(dyn)
    return scores, pd.DataFrame(metrics.per_k_table(dyn, scores)), detection.detection_table(dyn, scores)


@st.cache_resource(show_spinner="Loading the images…", max_entries=4)
def _images(dataset: str) -> np.ndarray | str:
    """All standard training images of the data set (uint8), or why they cannot be shown."""
    try:
        return load_dataset(dataset).train_x
    except DatasetUnavailableError as exc:
        return str(exc)


def pick_result() -> tuple[str, str]:
    """The launch to read (newest first, the bundled example last) and its status signature."""
    table = launches(lab.store)
    labels = {r.launch: f"{r.created_at:%d %b %H:%M} · {r.dataset} · {r.noise} · k = "
                        f"{', '.join(format_k(k) for k in r.ks)} · {r.n_train:,} images · {r.epochs} epochs · "
                        f"{r.done} of {r.runs} runs done" for r in table.itertuples()}
    labels[EXAMPLE_ID] = "Bundled example: the Quick preset on a shared 2-core CPU (not one of your runs)"
    wanted = st.session_state.get("dm_launch")
    if wanted is not None and wanted not in labels:
        st.warning(f"Launch `{wanted}` is not in this lab's run store; showing the newest result instead.")
        st.session_state.pop("dm_launch")
    launch = pick_saved("Result to read", labels, "dm_launch", default=[next(iter(labels))])
    if launch == EXAMPLE_ID:
        return launch, "bundled"
    runs = table[table["launch"] == launch]
    return launch, f"{int(runs['ended'].iloc[0])}/{int(runs['runs'].iloc[0])}"


def gallery(images: np.ndarray, cards: list[tuple[int, str]], key: str) -> None:
    """Thumbnails with captions that wrap to the screen's width (charts.gallery_html)."""
    st.html(charts.gallery_html(images, cards, key))


def _describe(dyn: Dynamics, names: list[str], pos: int) -> str:
    given, true = int(dyn.given_label[pos]), int(dyn.true_label[pos])
    flip = f" · true **{names[true]}** (flipped)" if given != true else ""
    return f"#{int(dyn.index[pos])} · given **{names[given]}**{flip}"


def notebook(dyn: Dynamics, per_k: pd.DataFrame, found: pd.DataFrame) -> None:
    """What this launch shows, in sentences written from its numbers."""
    ks = ", ".join(format_k(k) for k in dyn.k)
    noisy = bool(dyn.flipped.any())
    lines = [f"**{dyn.dataset}**, {len(dyn.index):,} training images, {dyn.noise} labels, {dyn.epochs} epochs, "
             f"one network per k = {ks} (same start, same order)."]
    if noisy:
        share = ", ".join(f"{100 * r.push_share_flipped_last:.0f}% at k = {format_k(r.k)}" for r in per_k.itertuples())
        lines.append(f"Flipped images are {100 * dyn.flipped.mean():.0f}% of the set; in the last epoch they took "
                     f"{share} of the total push |ε_y|^k.")
        conf = ", ".join(f"{r.confidence_clean:.2f} / {r.confidence_flipped:.2f} (k = {format_k(r.k)})"
                         for r in per_k.itertuples())
        lines.append(f"Mean confidence, clean / flipped: {conf}.")
        if len(found):
            best = found[found["k"].notna()].sort_values("auroc", ascending=False).iloc[0]
            worst = found[found["k"].notna()].sort_values("auroc").iloc[0]
            lines.append(f"Finding the flips: AUROC {worst.auroc:.3f} ({worst.detector}, k = {format_k(worst.k)}) "
                         f"to {best.auroc:.3f} ({best.detector}, k = {format_k(best.k)}).")
    else:
        hard = ", ".join(f"{r['hard-to-learn']:,} (k = {format_k(r['k'])})" for r in per_k.to_dict("records"))
        lines.append(f"No label was flipped: hard-to-learn images per k: {hard}.")
    st.info("  \n".join(lines))


def inspect(dyn: Dynamics, scores: dict, images, names: list[str], pos: int, where: str) -> None:
    """One image: its labels, each k's confidence and push, and its curves over epochs."""
    c1, c2, c3 = st.columns([0.8, 2, 2])
    if isinstance(images, np.ndarray):
        c1.image(charts.thumbnail(images[int(dyn.index[pos])], 4), caption=f"#{int(dyn.index[pos])}")
    c1.markdown(_describe(dyn, names, pos))
    for slot, k in enumerate(dyn.k):
        c1.caption(f"k = {format_k(k)}: confidence {scores['confidence'][slot, pos]:.2f}, AUM "
                   f"{scores['aum'][slot, pos]:.2f}, forgotten {int(scores['forgetting'][slot, pos])}×, "
                   f"mean push {scores['push'][slot, pos]:.3f}")
    p = dyn.p_given[:, :, pos].astype(float)
    push = metrics.push_curves(dyn.log_eps[:, :, pos:pos + 1], dyn.k_epoch)[:, :, 0]
    c2.plotly_chart(charts.image_curves(p, dyn.k, "p(given label) over epochs", "p(given label)"),
                    key=f"dm_{where}_p")
    c3.plotly_chart(charts.image_curves(np.maximum(push, 1e-8), dyn.k, "Push |ε_y|^k over epochs",
                                        "push (log scale)", log=True), key=f"dm_{where}_push")



def section_maps(dyn: Dynamics, scores: dict, images, names: list[str]) -> None:
    st.subheader("1 · Data maps, one per k")
    st.caption("Each point is a training image: how sure the network was of its given label on average (confidence) "
               "and how much that swung between epochs (variability), read from the training pass itself. "
               f"Regions as in Dataset Cartography: ambiguous above variability {metrics.AMBIGUOUS_VARIABILITY}, else "
               f"easy-to-learn at confidence ≥ {metrics.EASY_CONFIDENCE}, hard-to-learn below. Click a point to see "
               "its image.")
    noisy = dyn.flipped if dyn.flipped.any() else None
    for start in range(0, len(dyn.k), 2):
        cols = st.columns(2)
        for slot in range(start, min(start + 2, len(dyn.k))):
            fig = charts.data_map(scores["confidence"][slot], scores["variability"][slot], dyn.k[slot],
                                  index=dyn.index, given=dyn.given_label, true=dyn.true_label, flipped=noisy,
                                  correctness=scores["correctness"][slot], class_names=names)
            event = cols[slot - start].plotly_chart(fig, key=f"dm_map_{slot}", on_select="rerun",
                                                    selection_mode="points")
            points = (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) else \
                getattr(getattr(event, "selection", None), "points", [])
            if points and points[0].get("customdata") is not None:
                st.session_state["dm_img"] = int(dyn.index[int(points[0]["customdata"])])
    counts = pd.DataFrame(metrics.region_counts(scores, dyn.flipped))
    counts["k"] = [format_k(dyn.k[s]) for s in counts["slot"]]
    order = dict(index=[format_k(k) for k in dyn.k], columns=list(metrics.REGIONS))  # k ascending
    table = counts.pivot(index="k", columns="region", values="examples").reindex(**order)
    if noisy is not None:
        flips = counts.pivot(index="k", columns="region", values="flipped").reindex(**order)
        table = table.astype(str) + " (" + flips.astype(str) + " flipped)"
    st.dataframe(table, key="dm_regions")
    chosen = st.session_state.get("dm_img")
    where = np.flatnonzero(dyn.index == chosen) if chosen is not None else []
    if len(where):
        st.markdown("**The image you picked**")
        inspect(dyn, scores, images, names, int(where[0]), "picked")


def section_gallery(dyn: Dynamics, scores: dict, images, names: list[str]) -> None:
    st.subheader("2 · The hardest images")
    c1, c2, c3 = st.columns([2, 1, 1])
    score = c1.selectbox("Sorted by", list(metrics.RANKINGS), key="dm_score",
                         format_func=lambda s: metrics.RANKINGS[s][1])
    ks = [format_k(k) for k in dyn.k]
    if st.session_state.get("dm_gk") not in ks:
        st.session_state["dm_gk"] = ks[0]
    k_text = c2.selectbox("at k", ks, key="dm_gk")
    n = c3.number_input("Images", 4, 48, step=4, key="dm_n")
    slot = ks.index(k_text)
    chosen = metrics.hardest(scores, score, slot, int(n))
    if not isinstance(images, np.ndarray):
        st.warning(f"The images cannot be shown: {images}")
        return
    cards = []
    for pos in chosen:
        given, true = names[int(dyn.given_label[pos])], names[int(dyn.true_label[pos])]
        label = f"<b>{html.escape(given)}</b>" + (f" (true <b>{html.escape(true)}</b>)" if given != true else "")
        per_k = "".join(f"<br>k = {format_k(k)}: p̄ {scores['confidence'][s, pos]:.2f}, push "
                        f"{scores['push'][s, pos]:.2f}" for s, k in enumerate(dyn.k))
        cards.append((int(dyn.index[pos]), f"#{int(dyn.index[pos])} · given {label}{per_k}"))
    gallery(images, cards, "hardest")
    st.caption("p̄: confidence, the mean p(given label) over epochs; push: the mean |ε_y|^k.")
    options = [int(dyn.index[p]) for p in chosen]
    pick = st.selectbox("Curves of one of them", options, key="dm_gallery_pick",
                        format_func=lambda i: f"#{i}")
    inspect(dyn, scores, images, names, int(np.flatnonzero(dyn.index == pick)[0]), "gallery")


def section_ignored(dyn: Dynamics, scores: dict, images, names: list[str]) -> None:
    st.subheader("3 · Whom each k ignores")
    if dyn.flipped.any():
        share = metrics.push_share(dyn)
        st.plotly_chart(charts.push_share(share, dyn.k, float(dyn.flipped.mean())), key="dm_push_share")
        st.caption("Above the dotted line, a k spends more of its push on the flipped labels than their share of "
                   "the data; below it, it ignores them. The push of an example is |ε_y|^k = (1 − p(given))^k.")
    else:
        st.caption("No label was flipped here, so every push went to correctly labelled images.")
    ref = metrics.reference_slot(dyn.k)
    small = [s for s in range(len(dyn.k)) if dyn.k[s] < 1]
    if ref is None or not small:
        st.info("Add k = 1 and a k below 1 to see the clean images a small k gives up on.")
        return
    gave_up = metrics.given_up(dyn, scores)
    for slot in small:
        strict = gave_up.get(slot, np.array([], dtype=np.int64))
        shown = strict if len(strict) else metrics.lagging(dyn, scores, slot)
        head = (f"k = {format_k(dyn.k[slot])} gave up on **{len(strict):,}** clean image(s) that k = "
                f"{format_k(dyn.k[ref])} learned (confidence below 0.5 at k = {format_k(dyn.k[slot])}, at least 0.5 "
                f"at k = {format_k(dyn.k[ref])}).")
        if not len(strict):
            head += f" Shown instead: the clean images where its confidence trails k = {format_k(dyn.k[ref])}'s most."
        st.markdown(head)
        if isinstance(images, np.ndarray) and len(shown):
            conf = scores["confidence"]
            cards = [(int(dyn.index[p]), f"#{int(dyn.index[p])} · {html.escape(names[int(dyn.given_label[p])])}"
                                         f"<br>p̄ {conf[slot, p]:.2f} at k = {format_k(dyn.k[slot])}"
                                         f"<br>p̄ {conf[ref, p]:.2f} at k = {format_k(dyn.k[ref])}")
                     for p in shown[:8]]
            gallery(images, cards, f"given-up-{slot}")


HEADERS = {"detector": "detector", "k": "k", "auroc": "AUROC", "precision_at_rate": "precision at the noise rate",
           "flagged": "flagged", "flag_precision": "precision of flags", "flag_recall": "recall of flags"}


def section_detection(dyn: Dynamics, found: pd.DataFrame) -> None:
    st.subheader("4 · Finding the label errors")
    if not dyn.flipped.any():
        st.info("No label was flipped in this launch, so there is nothing to find. Launch with label noise to compare "
                "each k's confidence and AUM with cleanlab.")
        return
    a, b = st.columns([1.2, 1])
    a.plotly_chart(charts.detection_bars(found), key="dm_detection")
    table = found.rename(columns=HEADERS)
    table["k"] = [format_k(k) if pd.notna(k) else "–" for k in found["k"]]
    st.dataframe(table, hide_index=True, key="dm_detection_table", column_config={
        h: st.column_config.NumberColumn(format="%.3f") for h in ("AUROC", "precision at the noise rate",
                                                                  "precision of flags", "recall of flags")})
    b.caption(f"Scores against the {int(dyn.flipped.sum()):,} known flips. Precision at the noise rate: the share of "
              "flipped images among the n lowest scores, n = the number of flips. Reference: cleanlab's "
              "`find_label_issues` and label-quality score on out-of-fold probabilities of a cross-entropy network "
              "(k = 1) trained on the other folds." + ("" if dyn.cv_probs is not None else
                                                      " (This launch has no reference run.)"))


# ----------------------------------------------------------------------------- the page
read_url()
set_defaults()
st.title("Example lens")
st.markdown("What did k do to each training example? One network per k trains on the same images, in the same "
            "order, from the same start; every epoch records, for every image, p(given label), the margin and the "
            "push |ε_y|^k the update gave it. Small k is said to *ignore* examples it cannot make sense of, large k "
            "to *chase* them: here you can see which images those are, and whether they are the mislabelled ones.")
for note in st.session_state.get("dm_url_notes", []):
    st.warning(note)
launch_form()
live_jobs("datamap", draw_live, key="dm", title="Training now")
outside_runs("datamap", draw_outside, key="dm")
picked = pick_result()
try:
    dyn = _load(*picked)
    scores, per_k, found = _analyse(*picked)
except DynamicsFileError as exc:
    st.info(f"Nothing recorded to read yet ({exc}). A run's data map appears when it ends.")
    write_url()
    st.stop()
if picked[0] == EXAMPLE_ID:
    st.caption("Showing the result bundled with the lab (the Quick preset, run on a shared 2-core CPU): press "
               "**Quick** above to train your own in about a minute.")
names = class_names(dyn.dataset, int(max(dyn.given_label.max(), dyn.true_label.max())) + 1)
images = _images(dyn.dataset)
notebook(dyn, per_k, found)
section_maps(dyn, scores, images, names)
section_gallery(dyn, scores, images, names)
section_ignored(dyn, scores, images, names)
section_detection(dyn, found)
write_url()
