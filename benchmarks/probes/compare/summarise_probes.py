"""Markdown table of the probe runs: val Δ_MTL per probe (against that seed's single-task probes)
and the paired difference to its plain reference (none, none_tl2 or none_tl3).

    python benchmarks/probes/compare/summarise_probes.py work/probes/runs
"""
from __future__ import annotations

import csv
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from mtl_perception.metrics import TASK_METRICS, delta_mtl


def read_runs(root: Path) -> dict[tuple[str, int], tuple[dict, dict]]:
    runs = {}
    for done in root.glob("*/done"):
        name, seed = re.match(r"(.*)_s(\d+)$", done.parent.name).groups()
        last = list(csv.DictReader((done.parent / "metrics.csv").open()))[-1]
        val = {t: {k: float(last[f"val_{t}_{k}"]) for k in ms} for t, ms in TASK_METRICS.items() if last.get(f"val_{t}_{next(iter(ms))}")}
        train = {t: float(last[f"train_{t}"]) for t in TASK_METRICS if f"train_{t}" in last}
        runs[(name, int(seed))] = (val, train)
    return runs


def reference_of(name: str) -> str | None:
    for suffix in ("_tl2", "_tl3"):
        if name.endswith(suffix) and name != "none" + suffix:
            return "none" + suffix
    return None if name == "none" else "none"


def main(root: Path) -> None:
    runs = read_runs(root)
    singles = {(t, s): val[t] for (n, s), (val, _) in runs.items() if n.startswith("single_") for t in val}
    rows: dict[str, dict[int, tuple[float, dict, dict]]] = defaultdict(dict)
    for (name, seed), (val, train) in runs.items():
        if not name.startswith("single_") and all((t, seed) in singles for t in val):
            rows[name][seed] = (delta_mtl(val, {t: singles[(t, seed)] for t in val}), val, train)
    print("| probe | seeds | Δ_MTL % (val) mean ± sd | paired vs its plain reference | mIoU | depth abs (m) | normals mean (°) | final train loss seg / dep / nor |")
    print("|---|---|---|---|---|---|---|---|")
    for name, per in sorted(rows.items(), key=lambda kv: -statistics.fmean(v[0] for v in kv[1].values())):
        deltas = [v[0] for v in per.values()]
        ref = reference_of(name)
        paired = [per[s][0] - rows[ref][s][0] for s in per if ref and s in rows.get(ref, {})]
        mean = lambda task, key: statistics.fmean(v[1][task][key] for v in per.values())  # noqa: E731
        train = " / ".join(f"{statistics.fmean(v[2][t] for v in per.values()):.3f}" for t in TASK_METRICS)
        sd = f"{statistics.stdev(deltas):.2f}" if len(deltas) > 1 else "—"
        vs = f"{statistics.fmean(paired):+.2f} vs {ref}" if paired else "—"
        print(f"| {name} | {len(deltas)} | {statistics.fmean(deltas):.2f} ± {sd} | {vs} | {mean('segmentation', 'miou'):.3f} | "
              f"{mean('depth', 'abs_err'):.3f} | {mean('normals', 'mean'):.1f} | {train} |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "work/probes/runs"))
