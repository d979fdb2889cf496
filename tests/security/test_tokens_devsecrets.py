"""Development key files: created whole, owner-only, once — even by processes starting together."""

from __future__ import annotations

import multiprocessing
import os
import stat
import threading
from pathlib import Path

from shared import devsecrets

RACERS = 8


def _race_in_a_process(folder: str, barrier, results) -> None:
    barrier.wait()
    results.put(devsecrets.dev_secret(Path(folder), devsecrets.JWT_SIGNING_KEY))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_processes_starting_together_all_get_the_one_key_in_an_owner_only_file(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(RACERS), context.Queue()
    folder = tmp_path / "data"
    processes = [context.Process(target=_race_in_a_process, args=(str(folder), barrier, results)) for _ in range(RACERS)]
    for process in processes:
        process.start()
    keys = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    path = folder / devsecrets.JWT_SIGNING_KEY
    assert len(set(keys)) == 1 and len(keys[0]) >= 43  # 32 random bytes, URL-safe text
    assert path.read_bytes().strip() == keys[0]
    assert _mode(path) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == [devsecrets.JWT_SIGNING_KEY]  # no temporary file left


def test_threads_racing_never_read_a_partial_or_different_key(tmp_path: Path) -> None:
    barrier, keys, lock = threading.Barrier(RACERS), [], threading.Lock()

    def race() -> None:
        barrier.wait()
        key = devsecrets.dev_secret(tmp_path, "nested/dev-key")
        with lock:
            keys.append(key)

    threads = [threading.Thread(target=race) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(keys) == RACERS and len(set(keys)) == 1 and len(keys[0]) >= 43
    assert _mode(tmp_path / "nested" / "dev-key") == 0o600


def test_the_key_file_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        devsecrets.dev_secret(tmp_path, "key")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "key") == 0o600


def test_a_key_file_others_could_read_is_made_owner_only_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_bytes(b"an-existing-key-written-by-an-older-version")
    path.chmod(0o644)
    assert devsecrets.dev_secret(tmp_path, "key") == b"an-existing-key-written-by-an-older-version"
    assert _mode(path) == 0o600


def test_a_configured_secret_wins_and_writes_nothing(tmp_path: Path) -> None:
    assert devsecrets.configured_or_dev("configured", tmp_path, "key") == b"configured"
    assert not (tmp_path / "key").exists()
