"""The directory bag-to-dataset writes: a manifest of its files, so --overwrite removes only those.

The manifest lists every file the conversion will write before it writes the first one, so an
interrupted conversion can be replaced too. Anything not listed (or a directory without the
manifest) is never deleted.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from ..data.dataset import CAMERA_FILE, MODALITIES

MANIFEST_FILE = "bag_to_dataset.json"
TOOL = "bag-to-dataset"
SPLITS = ("train", "val")


class DatasetOutputError(ValueError):
    """The output directory may not be written or replaced."""


def sample_files(counts: dict[str, int]) -> list[str]:
    """Relative paths of the MTAN files for `counts[split]` samples per split, plus camera.json."""
    files = [f"{split}/{name}/{i}.npy" for split in SPLITS for name, _ in MODALITIES for i in range(counts.get(split, 0))]
    return [*files, CAMERA_FILE]


def _read_manifest(out: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((out / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(manifest, dict) and manifest.get("writer") == TOOL and isinstance(manifest.get("files"), list)
    return manifest if ok else None


def _own_dirs() -> list[str]:
    """The layout's directories, deepest first (removed when empty)."""
    return [f"{split}/{name}" for split in SPLITS for name, _ in MODALITIES] + list(SPLITS)


def _remove_listed(out: Path, files: Iterable[str]) -> None:
    """Unlink the listed files that exist, then the layout's directories left empty (never recursive)."""
    for name in [*files, MANIFEST_FILE]:
        path = out / name
        if path.is_file() and not path.is_symlink():
            path.unlink()
    for name in _own_dirs():
        path = out / name
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            path.rmdir()


def prepare_output(out: str | os.PathLike[str], overwrite: bool) -> None:
    """Make `out` ready for a new conversion, or raise DatasetOutputError saying why it may not be.

    `out` may be missing or an empty directory. With --overwrite it may also be an earlier
    bag-to-dataset output that holds nothing but the files its manifest lists.
    """
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir() or out.is_symlink():
        raise DatasetOutputError(f"--out {out} exists and is not a directory; refusing to replace it")
    present = sorted(p for p in out.rglob("*") if not p.is_dir() or p.is_symlink())
    if not present:
        return
    manifest = _read_manifest(out)
    if manifest is None:
        raise DatasetOutputError(
            f"--out {out} is not empty and is not a {TOOL} output; refusing to touch it (choose another directory)"
        )
    if not overwrite:
        raise DatasetOutputError(f"--out {out} holds an earlier {TOOL} output; pass --overwrite to replace it")
    allowed = {*map(str, manifest["files"]), MANIFEST_FILE}
    foreign = [str(p.relative_to(out)) for p in present if str(p.relative_to(out)) not in allowed or p.is_symlink()]
    if foreign:
        raise DatasetOutputError(f"--out {out} holds files {TOOL} did not write ({', '.join(foreign[:5])}); refusing to replace it")
    _remove_listed(out, manifest["files"])


def write_manifest(out: Path, files: list[str], report: dict[str, Any]) -> None:
    """Record the files this conversion writes (before writing them) and its report."""
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"writer": TOOL, "report": report, "files": files}, indent=2) + "\n"
    (out / MANIFEST_FILE).write_text(text)


def remove_output(out: Path, files: list[str], *, created: bool) -> None:
    """Undo a failed conversion: remove the files it listed and wrote, and `out` itself if it `created` it."""
    _remove_listed(out, files)
    if created and out.is_dir() and not any(out.iterdir()):
        out.rmdir()
