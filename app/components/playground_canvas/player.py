"""Server side of the live Playground canvas: a Player per browser tab answers the canvas's frame requests.

What: `Player(cfg)` wraps a `core.playground.LiveSession` and answers one request of the canvas (`answer(req)`):
apply the clicked edits it has not applied yet, reset if asked, train `want` frames of `spf` steps each, and
return them as one small JSON message (boundaries as bytes, base64). `steer(cfg)` takes new k values or a new
learning rate (weights kept) from the page's widgets. `Players` keeps at most `cap` players (least recently
used dropped first), so the server's memory is bounded however many tabs open the page.

Why this protocol: the canvas pulls frames (one request in flight, a few frames per answer, the next request
sent while it plays the last answer), so training runs only while a visible tab asks for frames: a hidden or
closed tab stops training by itself. Edits carry increasing ids and are resent until acknowledged, so a
request lost in a rerun never loses a click, and a repeated one is never applied twice.

    player = Player(cfg)
    message = player.answer({"gen": 1, "want": 3, "spf": 5, "edits": [{"id": 1, "op": "flip", "index": 4}]})
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections import OrderedDict

import numpy as np
import streamlit as st

from core.curves import format_k
from core.playground import LiveSession, LiveSessionError, PlaygroundConfig

MAX_PLAYERS = 40  # live sessions one server keeps (least recently used dropped first)
MAX_FRAMES_PER_ANSWER = 8  # frames one request may ask for
MAX_STEPS_PER_FRAME = 50
_GENERATIONS = itertools.count(1)  # unique across players, so a canvas notices a new session as a new generation


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _pct(a: np.ndarray) -> list[float]:
    return [round(float(v) * 100, 1) for v in a]


def encode_frame(snap: dict) -> dict:
    """One frame: step, accuracies in % (mean, min, max over seeds; train against the given labels, clean test),
    p(red) per panel as uint8 (K*G*G, rows bottom first) and each point's push as uint8 32 * sqrt(|f_y| / mean)."""
    push = snap["push"]  # (K, N)
    rel = np.sqrt(push / np.maximum(push.mean(1, keepdims=True), 1e-12))
    test = snap["test_accuracy_seeds"]
    return {
        "step": int(snap["step"]),
        "acc": _pct(snap["accuracy"]), "acc_lo": _pct(snap["accuracy_min"]), "acc_hi": _pct(snap["accuracy_max"]),
        "test": _pct(test.mean(0)), "test_lo": _pct(test.min(0)), "test_hi": _pct(test.max(0)),
        "prob": _b64((np.clip(snap["prob"], 0, 1) * 255).round().astype(np.uint8)),
        "push": _b64(np.clip(np.round(rel * 32), 0, 255).astype(np.uint8)),
    }


def encode_points(snap: dict) -> dict:
    """The training points: xy float32 (N*2), label uint8 (N), kind uint8 (N): 0 clean, 1 flipped, 2 outlier."""
    kind = np.where(snap["outlier"], 2, np.where(snap["flipped"], 1, 0)).astype(np.uint8)
    return {"n": int(len(snap["y"])), "xy": _b64(snap["x"].astype(np.float32)),
            "label": _b64(snap["y"].astype(np.uint8)), "kind": _b64(kind), "bounds": [float(b) for b in snap["bounds"]]}


def panel_title(k: float) -> str:
    return f"k = {format_k(k)}" + (" (cross-entropy)" if k == 1 else "")


class Player:
    """One tab's live session and where its canvas stands (generation, settings version, acknowledged edits)."""

    def __init__(self, cfg: PlaygroundConfig, notice: str | None = None) -> None:
        self.session = LiveSession(cfg, "cpu")
        self.lock = threading.Lock()
        self.gen = next(_GENERATIONS)  # renewed by reset: the canvas drops its recorded frames
        self.first_gen = self.gen  # a new session plays by itself; a reset keeps the canvas as it was (playing or not)
        self.stop_at = cfg.steps  # the canvas pauses at this step
        self.ver = 0  # bumped by a change of k, lr or data: the canvas drops frames it queued before it
        self.edit_id = 0  # last applied edit
        self.reset_id = 0  # last applied reset
        self.notice = notice  # said once, in the next message (e.g. "data set changed: restarted")
        self.errors: list[str] = []
        self.used = time.monotonic()
        self.pace = (0, 1, 0.0)  # the last request's (want, spf, time): a page run goes on playing if it was

    @property
    def config(self) -> PlaygroundConfig:
        return self.session.config

    def steer(self, cfg: PlaygroundConfig) -> bool:
        """Take cfg's k values, learning rate and stop step, keeping the weights; True if k or lr changed."""
        with self.lock:
            self.stop_at = cfg.steps
            now = self.session.config
            if (cfg.ks, cfg.lr) == (now.ks, now.lr):
                return False
            self.session.set(k=cfg.ks, lr=cfg.lr)
            self.ver += 1
            return True

    def _edit(self, edit: dict) -> None:
        session = self.session
        if edit.get("op") == "flip":
            session.flip(int(edit["index"]))
        elif edit.get("op") == "add":
            x, y = float(edit["x"]), float(edit["y"])
            if edit.get("outlier"):
                session.add_point(x, y, session.label_against(x, y), outlier=True)
            else:
                session.add_point(x, y, int(edit["label"]))
        else:
            raise LiveSessionError(f"unknown edit {edit.get('op')!r}")

    def answer(self, req: dict | None) -> dict:
        """Apply a canvas request (or None: just the current frame) and return the message for the canvas."""
        with self.lock:
            self.used = time.monotonic()
            req = req if isinstance(req, dict) else {}
            if int(req.get("reset") or 0) > self.reset_id:
                self.reset_id = int(req["reset"])
                self.session.reset()
                self.gen = next(_GENERATIONS)
            elif int(req.get("gen") or 0) == self.gen:  # edits made on an older generation's points are dropped
                for edit in sorted(req.get("edits") or [], key=lambda e: int(e.get("id", 0))):
                    if int(edit.get("id", 0)) > self.edit_id:
                        self.edit_id = int(edit["id"])
                        try:
                            self._edit(edit)
                        except (LiveSessionError, KeyError, TypeError, ValueError) as exc:
                            self.errors.append(str(exc))
                        self.ver += 1
            want = min(max(int(req.get("want") or 0), 0), MAX_FRAMES_PER_ANSWER)
            spf = min(max(int(req.get("spf") or 1), 1), MAX_STEPS_PER_FRAME)
            if req:
                self.pace = (want, spf, self.used)
            elif self.pace[0] and self.used - self.pace[2] < 1.0:  # a page run while playing: keep it moving
                spf = self.pace[1]
                want = min(2, max(0, (self.stop_at - self.session.step) // spf))  # not past the stop step
            until = int(req.get("until") or 0)  # the canvas's stop step: frames end exactly there
            snaps = []
            for _ in range(want):
                steps = spf if self.session.step >= until else min(spf, until - self.session.step)
                snaps.append(self.session.advance(steps))
                if self.session.step == until:
                    break
            snaps = snaps or [self.session.advance(0)]
            cfg = self.session.config
            message = {
                "gen": self.gen, "ver": self.ver, "seq": int(req.get("seq") or 0), "ack_edit": self.edit_id,
                "ack_reset": self.reset_id, "titles": [panel_title(k) for k in cfg.ks], "seeds": cfg.seeds,
                "grid": cfg.grid, "stop_at": self.stop_at, "lr": cfg.lr, "play": self.gen == self.first_gen,
                "points": encode_points(snaps[-1]),
                "frames": [encode_frame(s) for s in snaps], "notice": self.notice, "error": "; ".join(self.errors),
            }
            self.notice, self.errors = None, []
            return message


class Players:
    """At most `cap` players by tab token; the least recently used goes first (its tab starts afresh if it returns)."""

    def __init__(self, cap: int = 40) -> None:
        self.cap = cap
        self._lock = threading.Lock()
        self._players: OrderedDict[str, Player] = OrderedDict()

    def get(self, token: str) -> Player | None:
        with self._lock:
            player = self._players.get(token)
            if player is not None:
                self._players.move_to_end(token)
            return player

    def put(self, token: str, player: Player) -> None:
        with self._lock:
            self._players[token] = player
            self._players.move_to_end(token)
            while len(self._players) > self.cap:
                self._players.popitem(last=False)

    def __len__(self) -> int:
        return len(self._players)


@st.cache_resource(show_spinner=False)
def registry() -> Players:
    """Every tab's player in this server process, at most MAX_PLAYERS."""
    return Players(cap=MAX_PLAYERS)
