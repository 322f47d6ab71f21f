"""Where each node thread's time goes, from `bench_node.py --profile DIR`'s py-spy samples.

    .venv/bin/python benchmarks/profile_summary.py DIR/node0.txt [DIR/node1.txt ...]

py-spy samples every thread at a fixed rate, idle ones included (`--idle`), so a thread's
samples are its wall time. Each sample goes to the first bucket whose rule matches its stack;
start-up (imports, model load, configure) is left out. A thread that is mostly "waiting" is
idle: it is not what limits the frame rate.
"""
from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

STARTUP = ("_find_and_load", "on_configure", "PerceptionNode.__init__", "load_engine")
WAITING_LEAVES = ("Condition.wait", "Executor._wait_for_ready_callbacks", "Event.wait", "sleep", "Future.result")
# (bucket, substring of a frame in the stack); first match wins, checked after "waiting"
BUCKETS = (
    ("network forward", "MultiTaskNet.forward"),
    ("preprocess", "Engine.preprocess"),
    ("postprocess", "Engine.postprocess"),
    ("build + publish outputs", "FramePublisher"),
    ("publish loop (other)", "_publish_loop"),
    ("image callback (decode, hand-off)", "_on_image"),
    ("diagnostics", "diagnostics"),
)


def bucket(frames: list[str]) -> str | None:
    if any(marker in frame for frame in frames for marker in STARTUP):
        return None
    if frames[-1].split(" (")[0] in WAITING_LEAVES:
        return "waiting"
    for name, marker in BUCKETS:
        if any(marker in frame for frame in frames):
            return name
    return "other"


def summarise(path: Path) -> dict[str, Counter]:
    """thread name -> bucket -> samples."""
    threads: dict[str, Counter] = defaultdict(Counter)
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        name = bucket(frames[1:]) if len(frames) > 1 else None
        if name is not None:
            threads[frames[0].split(": ", 1)[-1]][name] += int(count)
    return threads


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profiles", nargs="+", type=Path)
    for path in parser.parse_args().profiles:
        print(f"\n## {path}\n\n| thread | bucket | share of the thread's time |\n|---|---|---|")
        for thread, counts in sorted(summarise(path).items()):
            total = sum(counts.values())
            for name, samples in counts.most_common():
                print(f"| {thread} | {name} | {samples / total:.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
