"""Output paths checked for writability before a command's long work starts (creates nothing that stays)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OutputPathError(ValueError):
    """An output path cannot be written: under a file, in a read-only place, or the wrong kind."""


def _nearest_existing(path: Path) -> Path:
    """`path` itself if it exists, else its closest existing ancestor."""
    current = path
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _probe_directory(directory: Path, shown: Path) -> None:
    """Create and remove one temporary file in `directory`: the only reliable test (root, /proc, read-only mounts)."""
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".mtl_perception_write_probe.")
    except OSError as err:
        raise OutputPathError(f"cannot write {shown}: {directory} is not writable ({err.strerror or err})") from err
    os.close(fd)
    os.unlink(probe)


def _check_creatable(target: Path, shown: str | os.PathLike[str]) -> None:
    """`target` (absolute) must be an existing writable directory or creatable under one."""
    existing = _nearest_existing(target)
    if not existing.is_dir():
        raise OutputPathError(f"cannot write {shown}: {existing} is not a directory")
    _probe_directory(existing, Path(shown))


def check_output_dir(path: str | os.PathLike[str]) -> None:
    """An output directory must be an existing writable directory, or creatable under one."""
    _check_creatable(Path(path).absolute(), path)


def check_output_file(path: str | os.PathLike[str]) -> None:
    """An output file must be writable (if it exists) and its directory existing-or-creatable and writable."""
    target = Path(path).absolute()
    if target.is_dir():
        raise OutputPathError(f"cannot write {path}: it is a directory")
    if target.exists():
        if not target.is_file():
            raise OutputPathError(f"cannot write {path}: it exists and is not a regular file")
        try:  # append mode opens for writing without touching the content
            with target.open("ab"):
                pass
        except OSError as err:
            raise OutputPathError(f"cannot write {path}: {err.strerror or err}") from err
        return
    _check_creatable(target.parent, path)
