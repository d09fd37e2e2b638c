"""Tests for core.engine.owner: a token names one live process, and nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.engine import owner
from core.engine.owner import owner_alive, owner_token


def test_owner_token_identifies_this_process_only():
    """The current token is alive; the same pid with another nonce (an earlier process) and junk are not."""
    token = owner_token()
    host, pid, ticks, nonce = token.split("|")
    assert owner_alive(token)
    assert int(pid) == os.getpid()
    assert not owner_alive(f"{host}|{pid}|{ticks}|{'0' * len(nonce) if nonce != '0' * len(nonce) else '1'}")
    assert not owner_alive(None) and not owner_alive("not a token")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times come from /proc")
def test_live_pid_counts_only_with_same_host_and_start_time():
    """A live pid is the owner only on the same host with the same start time (else the pid was reused)."""
    host, _, _, nonce = owner_token().split("|")
    parent = os.getppid()
    ticks = owner._process_start_ticks(parent)
    assert ticks
    assert owner_alive(f"{host}|{parent}|{ticks}|{nonce}")
    assert not owner_alive(f"{host}|{parent}|{int(ticks) + 1}|{nonce}")
    assert not owner_alive(f"another-{host}|{parent}|{ticks}|{nonce}")
