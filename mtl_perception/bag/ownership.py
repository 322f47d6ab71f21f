"""What a bag tool may replace: only a bag it wrote itself (named in its metadata), never its input."""
from __future__ import annotations

import os
from pathlib import Path

import yaml

METADATA_FILE = "metadata.yaml"
WRITER_KEY = "mtl_perception.writer"  # custom_data key naming the tool that wrote the bag
# Files rosbag2 storage may leave beside the ones metadata.yaml lists (sqlite journals).
SIDECAR_SUFFIXES = ("-wal", "-shm", "-journal")


class OwnershipError(ValueError):
    """An existing path may not be replaced (not our output) or an output would clobber the input."""


def bag_writer_of(path: Path) -> str | None:
    """The tool recorded in a bag directory's metadata.yaml custom_data, or None."""
    try:
        info = yaml.safe_load((path / METADATA_FILE).read_text())["rosbag2_bagfile_information"]
        writer = (info.get("custom_data") or {}).get(WRITER_KEY)
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return None
    return writer if isinstance(writer, str) else None


def _bag_files(path: Path) -> set[str]:
    """Names metadata.yaml lists for this bag, plus metadata.yaml and storage sidecars."""
    info = yaml.safe_load((path / METADATA_FILE).read_text())["rosbag2_bagfile_information"]
    listed = {str(name) for name in info.get("relative_file_paths") or []}
    return listed | {METADATA_FILE} | {f"{name}{suffix}" for name in listed for suffix in SIDECAR_SUFFIXES}


def replaceable_files(path: Path, tool: str) -> list[Path]:
    """The files to delete so `tool` may write a new bag at `path`; raises unless it is `tool`'s own bag.

    Only a directory whose metadata names `tool` as its writer and that holds nothing but that
    bag's own files qualifies; anything else is refused, whatever --overwrite says.
    """
    if not path.is_dir() or path.is_symlink():
        raise OwnershipError(f"{path} exists and is not a bag directory; refusing to replace it (remove it yourself)")
    writer = bag_writer_of(path)
    if writer != tool:
        who = f"written by {writer!r}" if writer else "not written by mtl-perception"
        raise OwnershipError(f"{path} exists and is {who}, not a previous {tool} output; --overwrite replaces only those (remove it yourself)")
    allowed = _bag_files(path)
    present = {entry.name: entry for entry in path.iterdir()}
    foreign = sorted(name for name, entry in present.items() if name not in allowed or not entry.is_file() or entry.is_symlink())
    if foreign:
        raise OwnershipError(f"{path} holds files that are not part of its bag ({', '.join(foreign[:5])}); refusing to replace it")
    return list(present.values())


def remove_own_bag(path: Path, tool: str) -> None:
    """Delete a previous `tool` output bag at `path` file by file (never a recursive delete)."""
    for file in replaceable_files(path, tool):
        file.unlink()
    path.rmdir()


def _contains(outer: Path, inner: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_output_apart(input_path: str | os.PathLike[str], output_path: str | os.PathLike[str]) -> None:
    """Refuse an output bag that is, contains, or lies inside the input recording."""
    source, target = Path(input_path).resolve(), Path(output_path).resolve()
    # A bare .mcap/.db3 input is clobbered by an output at or above it; a bag directory also by one inside it.
    if _contains(target, source) or (source.is_dir() and _contains(source, target)):
        raise OwnershipError(f"output bag {output_path} would overwrite or nest in the input bag {input_path}; choose another path")
