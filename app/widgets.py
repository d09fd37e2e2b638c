"""Widgets every page shares: lists of numbers (k values, learning rates, noise rates) and the saved-run picker.

A list of numbers is two widgets side by side: the chosen values as chips (a multiselect of presets and
of the values added so far, in which nothing can be typed) and an "Add" box that adds exactly what is
typed in it. A multiselect that accepts typed entries adds the first preset that matches the text on
Enter (typing `0` picked 0.003), so typing lives in its own box. Every chip is a value in canonical form
(k as core.curves.format_k writes it): what the chips show is what runs. An entry that cannot be read
never becomes a chip: it stays in the Add box with an error beside it, and pages treat it as a red field
(`Picked.rejected` blocks a launch). Values given in the URL are read the same way, and a bad one is
named in a warning, never dropped silently.
"""

from __future__ import annotations

import math

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import streamlit as st

from core.kvalue import K_MIN, format_k, read_number

K_CHOICES: tuple[str, ...] = ("1/16", "1/8", "1/4", "1/2", "1", "2", "4", "8")  # the k presets of every page


@dataclass(frozen=True)
class Numbers:
    """What a list holds: how an entry is read (ValueError when it cannot be used) and written back."""

    rule: str  # said when an entry is refused, e.g. "k values must be numbers in (0, 64]"
    read: Callable[[str], float]  # text -> value; raises ValueError for unreadable or out-of-range text
    write: Callable[[float], str]  # value -> its chip (and URL) text; read(write(v)) is the value that runs
    example: str  # the Add box's placeholder


def _between(lower: float, upper: float) -> Callable[[str], float]:
    def read(text: str) -> float:
        value = read_number(text)  # also written 1/4 or 2^-2
        if not (math.isfinite(value) and lower <= value <= upper):
            raise ValueError(f"{text!r} is outside [{lower:g}, {upper:g}]")
        return value
    return read


def _rate(text: str) -> float:
    t = str(text).strip()
    value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    if not 0 <= value < 1:
        raise ValueError(f"{text!r} is outside [0, 1)")
    return value


K_VALUES = Numbers(f"k values must be numbers from {K_MIN:g} to 64, written like 0.25, 1/4 or 2^-2",
                   _between(K_MIN, 64.0), format_k, "e.g. 0.3 or 2^-5, then Enter")
LEARNING_RATES = Numbers("learning rates must be numbers from 1e-08 to 100, written like 0.03 or 3e-2",
                         _between(1e-8, 100.0), lambda v: f"{v:g}", "e.g. 0.05, then Enter")
NOISE_RATES = Numbers("noise rates must be numbers in [0, 1), written like 0.4 or 40%", _rate, lambda v: f"{v:g}",
                      "e.g. 0.3 or 30%, then Enter")


@dataclass(frozen=True)
class Picked:
    """The values a list widget holds (distinct, ascending) and the typed entries it refused."""

    values: list[float]
    rejected: list[str] = field(default_factory=list)  # still in the Add box: the form is not what it shows

    @property
    def blocked(self) -> bool:
        return bool(self.rejected)


def _split(text: str) -> list[str]:
    """Typed entries: '0.3, 3/4 2^-5' -> ['0.3', '3/4', '2^-5'] (spaces around ^ / ** % are not separators)."""
    text = re.sub(r"\s*(\^|\*\*|/|%)\s*", r"\1", str(text or "").strip())
    return [t for t in re.split(r"[,;\s]+", text) if t]


def _canonical(entries: list, numbers: Numbers) -> tuple[list[str], list[str]]:
    """(chips, refused): each readable entry in canonical form, distinct and ascending; the others as typed."""
    by_value: dict[float, str] = {}
    bad: list[str] = []
    for entry in entries:
        try:
            value = numbers.read(str(entry))
        except (ValueError, TypeError, ZeroDivisionError, OverflowError):
            bad.append(str(entry))
            continue
        chip = numbers.write(value)
        by_value.setdefault(numbers.read(chip), chip)
    return [by_value[v] for v in sorted(by_value)], bad


def _add(key: str, numbers: Numbers) -> None:
    """The Add box's callback: readable entries become chips, the rest stay in the box."""
    chips, bad = _canonical(list(st.session_state.get(key) or []) + _split(st.session_state.get(f"{key}_add")), numbers)
    st.session_state[key] = chips
    st.session_state[f"{key}_add"] = ", ".join(bad)
    st.session_state.pop(f"{key}_url_note", None)


def _touched(key: str) -> None:
    st.session_state.pop(f"{key}_url_note", None)


def number_list(label: str, key: str, numbers: Numbers, *, default: list[str], choices: tuple[str, ...] | list[str],
                url: bool = False, persist: bool = False, help: str | None = None,
                add_label: str = "Add a value") -> Picked:
    """Chips of chosen values (pick presets from the list) and an Add box beside them (type 0.3 and press Enter).

    key: the chips' widget key (and the URL parameter when `url`); the Add box is `{key}_add`.
    url: the values live in the URL as ?key=a&key=b (a bad one is named in a warning and left out).
    persist: the values survive a page switch. Returns the values and the entries that could not be read.
    """
    add_key, note_key = f"{key}_add", f"{key}_url_note"
    default_chips, _ = _canonical(default, numbers)
    if key in st.session_state:
        raw, source = list(st.session_state[key] or []), "state"
    elif url and key in st.query_params:
        raw, source = st.query_params.get_all(key), "url"
    else:
        raw, source = default_chips, "default"
    chips, bad = _canonical(raw, numbers)
    if source == "url":
        if bad:
            st.session_state[note_key] = (
                f"The link's {', '.join(f'`{key}={b}`' for b in bad)} cannot be used ({numbers.rule}), so it was "
                f"left out. Showing {key} = {', '.join(chips) if chips else 'nothing'}.")
        st.session_state[key] = chips
    elif bad:  # set in session state (a preset, a test): refused entries go to the Add box, in red
        kept = _split(st.session_state.get(add_key))
        st.session_state[add_key] = ", ".join(kept + [b for b in bad if b not in kept])
        st.session_state[key] = chips
    elif source == "state" and chips != raw:
        st.session_state[key] = chips  # canonical and ascending: 0.25 -> 1/4
    options, _ = _canonical(list(choices) + chips, numbers)
    extra = dict(persist_state="session") if persist else {}

    if note_key in st.session_state:
        st.warning(st.session_state[note_key])
    left, right = st.columns([3, 1.2], vertical_alignment="bottom")
    chosen = left.multiselect(
        label, options, default=None if key in st.session_state else default_chips, key=key, help=help,
        accept_new_options=False, filter_mode=None, select_all=False, wrap=True, on_change=_touched, args=(key,),
        placeholder="Pick from the list, or add a value →", **extra)
    right.text_input(add_label, key=add_key, placeholder=numbers.example, on_change=_add,
                     args=(key, numbers), help=f"Type one or more values (comma-separated) and press Enter. "
                                                f"{numbers.rule[0].upper()}{numbers.rule[1:]}.", **extra)
    rejected = _split(st.session_state.get(add_key))
    if rejected:
        st.error(f"Ignored {', '.join(map(repr, rejected))}: {numbers.rule}. Correct or clear it in “{add_label}”.")
    if url:
        wanted = [] if chosen == default_chips else list(chosen)
        if st.query_params.get_all(key) != wanted:
            if wanted:
                st.query_params[key] = wanted
            else:
                del st.query_params[key]
    return Picked(sorted(numbers.read(c) for c in chosen), rejected)


def k_values(label: str, key: str, *, default: list[str], exclude: tuple[str, ...] = (), **kwargs) -> Picked:
    """number_list of k values, with the k presets every page shares (minus `exclude`)."""
    return number_list(label, key, K_VALUES, default=default, choices=[c for c in K_CHOICES if c not in exclude],
                       add_label=kwargs.pop("add_label", "Add a k value"), **kwargs)


def preset_type(values: dict, untouched: dict) -> str:
    """A preset button's type: "primary" only while the form holds exactly the preset's `values` (widget key ->
    value; lists compared as sets of text), a key the session has not set yet counting as its `untouched` value."""
    state = st.session_state

    def same(key, want) -> bool:
        have = state.get(key, untouched[key])
        return sorted(map(str, have)) == sorted(map(str, want)) if isinstance(want, list) else have == want
    return "primary" if all(same(key, want) for key, want in values.items()) else "secondary"


def pick_saved(label: str, labels: dict[Hashable, str], key: str, *, multi: bool = False, default: list | None = None,
               help: str | None = None):
    """Pick saved runs (or groups of runs) by id, shown by their labels in the order of `labels` (newest first).

    A pick that is no longer saved (deleted, or from an older database) falls back to `default`, or to the
    newest. Returns the id (a list of ids when `multi`), or None when nothing is saved.

    The browser sends picks as labels, read back with the options of the run before; when the list grew in
    between (a launch), a pick comes back as its label text: it is mapped to its id again, and the label
    function answers any value with a string (Streamlit re-serializes stale values with it, and a None
    there is a TypeError in the page).
    """
    ids = list(labels)
    if not ids:
        return [] if multi else None
    by_label = {text: i for i, text in labels.items()}

    def saved(pick):
        pick = by_label.get(pick, pick) if isinstance(pick, str) else pick
        return pick if pick in labels else None

    def label_of(pick) -> str:
        return labels.get(pick, str(pick))

    fallback = [i for i in (default if default is not None else ids[:1]) if i in labels]
    current = st.session_state.get(key)
    if multi:
        kept = None if current is None else [p for p in map(saved, current) if p is not None]
        st.session_state[key] = fallback if kept is None else kept
        return st.multiselect(label, ids, format_func=label_of, key=key, help=help)
    if saved(current) is None:
        st.session_state[key] = fallback[0] if fallback else ids[0]
    elif saved(current) != current:
        st.session_state[key] = saved(current)
    return st.selectbox(label, ids, format_func=label_of, key=key, help=help)
