"""rosbag2 storage (mcap and sqlite3) through `rosbags`: reading, writing and clear errors.

Bags written here are plain rosbag2 bags (metadata.yaml version 8, CDR serialisation, message
definitions and type hashes from the ROS 2 Jazzy typestore), so `ros2 bag info` / `ros2 bag play`
accept them. No rclpy here: everything is pure Python.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from .ownership import WRITER_KEY, OwnershipError, remove_own_bag

STORAGES: tuple[str, ...] = ("mcap", "sqlite3")
BAG_VERSION = 8  # what rosbag2 on Iron/Jazzy writes; every rosbag2 since Iron reads it


class BagError(RuntimeError):
    """A bag cannot be opened, read or written (missing, truncated, corrupt, unsupported)."""


class TopicNotFoundError(BagError):
    """A requested topic is not in the bag; the message lists the topics that are."""

    def __init__(self, topic: str, available: dict[str, str], path: str | os.PathLike[str] = "") -> None:
        self.topic = topic
        self.available = dict(available)
        listing = "\n".join(f"  {name} [{msgtype}]" for name, msgtype in sorted(available.items())) or "  (none)"
        where = f" in {path}" if path else ""
        super().__init__(f"topic {topic!r} not found{where}; topics in the bag:\n{listing}")


class BagFormatError(BagError):
    """A message in the bag has the wrong type, an unsupported encoding or mismatched sizes."""


@lru_cache(maxsize=1)
def typestore() -> Any:
    """The ROS 2 Jazzy typestore (message classes, definitions, RIHS01 hashes)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


@dataclass(frozen=True)
class Record:
    """One message from a bag, deserialised lazily: `msg` on first access, `raw` always."""

    topic: str
    msgtype: str
    timestamp: int  # record (receive) time in ns
    raw: bytes

    @property
    def msg(self) -> Any:
        try:
            return typestore().deserialize_cdr(self.raw, self.msgtype)
        except Exception as err:  # noqa: BLE001 - rosbags raises many kinds on bad bytes
            raise BagFormatError(f"cannot deserialise a {self.msgtype} message on {self.topic} at t={self.timestamp}: {err}") from err


def _storage_error(path: Path, err: BaseException) -> BagError:
    return BagError(f"cannot read bag {path}: it is truncated, corrupt or not a rosbag2 bag ({type(err).__name__}: {err})")


class BagReader:
    """Read a rosbag2 directory (mcap or sqlite3) or a bare .mcap/.db3 file.

    Use as a context manager. Every storage-level failure is raised as BagError.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._reader: Any = None

    def __enter__(self) -> "BagReader":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        from rosbags.rosbag2 import Reader

        if not self.path.exists():
            raise BagError(f"bag {self.path} does not exist")
        try:
            reader = Reader(self.path)
            reader.open()
        except BagError:
            raise
        except FileNotFoundError as err:
            raise BagError(f"{self.path} is not a rosbag2 bag: {err}") from err
        except Exception as err:  # noqa: BLE001 - ReaderError, sqlite3/mcap/struct errors on damaged files
            raise _storage_error(self.path, err) from err
        self._reader = reader

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                reader.close()
            except Exception:  # noqa: BLE001 - closing a damaged bag must not mask the first error
                pass

    @property
    def reader(self) -> Any:
        if self._reader is None:
            raise BagError(f"bag {self.path} is not open")
        return self._reader

    @property
    def topics(self) -> dict[str, str]:
        """topic name -> message type, e.g. {'/camera/image_raw': 'sensor_msgs/msg/Image'}."""
        return {conn.topic: conn.msgtype for conn in self.reader.connections}

    @property
    def storage(self) -> str:
        paths = list(self.path.glob("*.mcap")) if self.path.is_dir() else [self.path]
        return "mcap" if any(p.suffix == ".mcap" for p in paths) else "sqlite3"

    @property
    def start_time(self) -> int:
        return int(self.reader.start_time)

    @property
    def duration(self) -> int:
        return int(self.reader.duration)

    def message_count(self, topic: str) -> int:
        return sum(conn.msgcount for conn in self.reader.connections if conn.topic == topic)

    def require(self, topic: str, msgtypes: Sequence[str] | None = None) -> str:
        """Check a topic exists (and has one of `msgtypes`); returns its type."""
        topics = self.topics
        if topic not in topics:
            raise TopicNotFoundError(topic, topics, self.path)
        if msgtypes is not None and topics[topic] not in msgtypes:
            raise BagFormatError(f"topic {topic!r} has type {topics[topic]}, expected one of: {', '.join(msgtypes)}")
        return topics[topic]

    def messages(self, topics: Iterable[str]) -> Iterator[Record]:
        """Records on `topics` in record-time order; missing topics raise TopicNotFoundError."""
        wanted = list(dict.fromkeys(topics))
        for topic in wanted:
            self.require(topic)
        connections = [conn for conn in self.reader.connections if conn.topic in wanted]
        iterator = self.reader.messages(connections=connections)
        while True:
            try:
                connection, timestamp, raw = next(iterator)
            except StopIteration:
                return
            except Exception as err:  # noqa: BLE001 - damaged chunk/page mid-file
                raise _storage_error(self.path, err) from err
            yield Record(connection.topic, connection.msgtype, int(timestamp), bytes(raw))


class BagWriter:
    """Write a rosbag2 bag; closing is guaranteed (context manager), so what was written is kept.

    On an exception inside the `with` block the bag is still closed properly (index and
    metadata.yaml written) rather than aborted: a partial bag is a valid, shorter bag.
    """

    def __init__(self, path: str | os.PathLike[str], storage: str = "mcap", *, overwrite: bool = False, tool: str = "mtl-perception") -> None:
        if storage not in STORAGES:
            raise BagError(f"unknown storage {storage!r} (choose from {', '.join(STORAGES)})")
        self.path = Path(path)
        self.storage = storage
        self.overwrite = overwrite
        self.tool = tool  # recorded in metadata.yaml, so --overwrite can recognise this tool's own output
        self._writer: Any = None
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> "BagWriter":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        if self.path.exists() or self.path.is_symlink():
            if not self.overwrite:
                raise BagError(f"{self.path} exists already (pass --overwrite to replace a previous {self.tool} output)")
            try:
                remove_own_bag(self.path, self.tool)
            except OwnershipError as err:
                raise BagError(str(err)) from err
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise BagError(f"cannot create bag {self.path}: {err}") from err
        plugin = StoragePlugin.MCAP if self.storage == "mcap" else StoragePlugin.SQLITE3
        writer = Writer(self.path, version=BAG_VERSION, storage_plugin=plugin)
        try:
            writer.open()
        except Exception as err:  # noqa: BLE001
            raise BagError(f"cannot create bag {self.path}: {err}") from err
        writer.set_custom_data(WRITER_KEY, self.tool)
        self._writer = writer

    def add_topic(self, topic: str, msgtype: str, qos: Sequence[Any] = ()) -> None:
        if self._writer is None:
            raise BagError("bag writer is not open")
        if topic in self._connections:
            return
        self._connections[topic] = self._writer.add_connection(
            topic, msgtype, typestore=typestore(), serialization_format="cdr", offered_qos_profiles=list(qos)
        )
        self.counts[topic] = 0

    def write(self, topic: str, timestamp: int, msg: Any) -> None:
        """Serialise `msg` (a rosbags message object) to CDR and write it."""
        connection = self._connections.get(topic)
        if connection is None:
            raise BagError(f"topic {topic!r} was not added to {self.path}")
        self.write_raw(topic, timestamp, typestore().serialize_cdr(msg, connection.msgtype))

    def write_raw(self, topic: str, timestamp: int, raw: bytes | memoryview) -> None:
        connection = self._connections.get(topic)
        if connection is None:
            raise BagError(f"topic {topic!r} was not added to {self.path}")
        self._writer.write(connection, int(timestamp), raw)
        self.counts[topic] += 1

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
