"""Real file systems for fault tests: a small tmpfs that fills up, a read-only directory.

Mounting needs root (CAP_SYS_ADMIN). Where the machine refuses (an unprivileged CI runner, a
container without the capability), the test is skipped with the system's own reason; where
it allows, nothing is skipped.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


def _unmount(path: Path) -> None:
    # Lazy: a server that has not quite exited must not keep the test's mount alive.
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def _refused(what: str, result: subprocess.CompletedProcess) -> None:
    reason = (result.stderr or result.stdout).strip() or f"exit status {result.returncode}"
    pytest.skip(f"this machine does not allow {what} (needs root with CAP_SYS_ADMIN): {reason}")


@contextmanager
def small_disk(path: Path, size_mib: int) -> Iterator[Path]:
    """A tmpfs of ``size_mib`` MiB mounted at ``path`` (see ``resize``)."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        result = _mount("-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(path))
    except FileNotFoundError as exc:
        pytest.skip(f"no mount command on this machine: {exc}")
    if result.returncode != 0:
        _refused("mounting a small tmpfs", result)
    try:
        yield path
    finally:
        _unmount(path)


def resize(path: Path, size_mib: int) -> None:
    """Grow (or shrink) a tmpfs from ``small_disk`` in place: space comes back, files stay."""
    result = _mount("-o", f"remount,size={size_mib}m", str(path))
    assert result.returncode == 0, result.stderr


def fill(path: Path) -> Path:
    """Write a file at ``path`` until the disk is full; returns it (delete it to free space)."""
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(chunk)
        except OSError:
            pass
        try:  # the last bytes too
            while True:
                handle.write(b"\0")
        except OSError:
            pass
    return path


@contextmanager
def read_only_dir(path: Path) -> Iterator[Path]:
    """A directory no file can be created in: by permissions for an ordinary user, by a
    read-only bind mount for root (whom permissions do not stop)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    try:
        bound = _mount("--bind", str(path), str(path))
    except FileNotFoundError as exc:
        pytest.skip(f"no mount command on this machine: {exc}")
    if bound.returncode != 0:
        _refused("a read-only bind mount", bound)
    try:
        made = _mount("-o", "remount,bind,ro", str(path))
        if made.returncode != 0:
            _refused("a read-only bind mount", made)
        yield path
    finally:
        _unmount(path)
