"""Side-by-side timing: variants interleaved in one process, warm-up, repeated trials, medians."""
from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch


@dataclass(frozen=True)
class Timing:
    name: str
    median_ms: float
    p95_ms: float
    trials: int

    @property
    def per_second(self) -> float:
        return 1e3 / self.median_ms


def compare(variants: dict[str, Callable[[], object]], *, warmup: int = 3, trials: int = 20, sync_cuda: bool = False) -> dict[str, Timing]:
    """Time each variant; trials are interleaved so load drift hits every variant alike."""
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(trials):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            if sync_cuda:
                torch.cuda.synchronize()
            samples[name].append((time.perf_counter() - start) * 1e3)
    return {
        name: Timing(name, statistics.median(s), sorted(s)[max(0, int(round(0.95 * len(s))) - 1)], len(s))
        for name, s in samples.items()
    }


def stage_calls(engine, rgb, output_size: tuple[int, int]) -> dict[str, Callable[[], object]]:
    """One callable per stage of `engine.predict(rgb)`: preprocess, network, postprocess, and the whole call."""
    with torch.inference_mode():
        x = engine.preprocess(rgb)
        raw = {k: v.float() for k, v in engine.backend(x).items()}
    return {
        "preprocess": lambda: engine.preprocess(rgb),
        "network": lambda: engine.backend(x),
        "postprocess": lambda: engine.postprocess(raw, output_size),
        "predict (total)": lambda: engine.predict(rgb),
    }


def engine_stages(engine, rgb, output_size: tuple[int, int], trials: int, sync_cuda: bool = False) -> dict[str, Timing]:
    """Engine.predict split into preprocess, network and postprocess, plus the whole call."""
    with torch.inference_mode():
        return compare(stage_calls(engine, rgb, output_size), trials=trials, sync_cuda=sync_cuda)


def hardware() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "torch_threads": str(torch.get_num_threads()),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else "none",
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    cells = [header] + [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n## {title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(cells[0], widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")


def write_json(path: str | None, payload: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else str(o)))
        print(f"\nwrote {path}")
