"""The action-link signing key file is private (0600) from its first byte, and complete when seen."""

from __future__ import annotations

import os
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from metricloop.service import MetricLoop
from metricloop.workflow.service import _create_private
from tests.conftest import write_tiny_project


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MetricLoop]:
    monkeypatch.delenv("METRICLOOP_ACTION_SECRET", raising=False)
    m = MetricLoop.open(write_tiny_project(tmp_path / "p"))
    yield m
    m.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_key_file_is_created_0600_even_under_a_permissive_umask(tiny: MetricLoop) -> None:
    old = os.umask(0)
    try:
        key = tiny.workflow.action_secret
    finally:
        os.umask(old)
    path = tiny.project.state_dir / "action_secret"
    assert _mode(path) == 0o600
    assert path.read_text(encoding="utf-8") == key and len(key) >= 48
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".action_secret")] == []  # no temp left


def test_a_key_file_left_0644_by_an_older_version_is_tightened(tiny: MetricLoop) -> None:
    path = tiny.project.state_dir / "action_secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("k" * 64, encoding="utf-8")
    path.chmod(0o644)
    assert tiny.workflow.action_secret == "k" * 64
    assert _mode(path) == 0o600


def test_racing_creators_agree_and_nobody_sees_it_open_or_empty(tmp_path: Path) -> None:
    """Eight writers race for each of 30 files while a reader watches: the file is never seen
    readable by others or half-written, and the first key wins."""
    seen: list[str] = []
    stop = threading.Event()

    def watch(path: Path) -> None:
        while not stop.is_set():
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            with os.fdopen(fd) as f:
                mode, text = stat.S_IMODE(os.fstat(f.fileno()).st_mode), f.read()
            seen.append(f"{mode:o}:{len(text)}")

    old, interval = os.umask(0o022), sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so the watcher runs inside any window
    try:
        for i in range(30):
            path = tmp_path / f"secret{i}"
            watcher = threading.Thread(target=watch, args=(path,))
            watcher.start()
            writers = [threading.Thread(target=_create_private, args=(path, f"key-{n}-" + "x" * 40)) for n in range(8)]
            for w in writers:
                w.start()
            for w in writers:
                w.join()
            stop.set()
            watcher.join()
            stop.clear()
            assert path.read_text(encoding="utf-8").startswith("key-") and _mode(path) == 0o600
    finally:
        os.umask(old)
        sys.setswitchinterval(interval)
    assert seen and set(seen) <= {"600:46"}, sorted(set(seen))
