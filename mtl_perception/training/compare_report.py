"""The comparison's tables and charts: chosen learning rates, test metrics, Δ_MTL and paired intervals.

A row is summarised once all of its (lr, seed) runs have finished; until then it is listed
as pending, so a partial report never mixes complete and incomplete rows.
"""
from __future__ import annotations

import json
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping

from ..metrics import TASK_METRICS, delta_mtl
from .compare_stats import Interval, choose_multitask_lr, choose_single_lr, choose_total_loss_lr, direct_gaps, mean_std, row_deltas

Results = Mapping[tuple[str, float, int], Mapping[str, Any]]


def _by_row(results: Results, meta: Mapping[str, Any]) -> dict[str, dict[float, dict[int, Mapping[str, Any]]]]:
    """{row: {lr: {seed: result}}} for the rows whose every run has finished."""
    complete = {}
    for row in meta["rows"]:
        lrs = meta.get("row_lrs", {}).get(row, meta["lrs"])
        grid = {lr: {seed: results.get((row, lr, seed)) for seed in meta["seeds"]} for lr in lrs}
        if all(run is not None for runs in grid.values() for run in runs.values()):
            complete[row] = grid
    return complete


def summarise(results: Results, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Per row: the chosen lr, test metrics (mean ± std), test Δ_MTL and its paired differences to `none` and to its plain twin.

    An experiment without single-task rows has no Δ_MTL: its multitask rows choose their lr by
    total val loss and are compared with their plain twin directly (`vs_plain_direct`).
    """
    grid = _by_row(results, meta)
    with_baselines = any(row.startswith("single_") for row in meta["rows"])
    singles = {}
    summary: dict[str, Any] = {"rows": {}, "pending": [r for r in meta["rows"] if r not in grid]}
    for task in TASK_METRICS:
        row = f"single_{task}"
        if row in grid:
            lr = choose_single_lr(grid[row], task)
            singles[task] = grid[row][lr]
            summary["rows"][row] = _entry(row, lr, grid[row], None)
    for row, by_lr in grid.items():
        if row.startswith("single_"):
            continue
        tasks = next(iter(next(iter(by_lr.values())).values()))["tasks"]
        if not with_baselines:
            summary["rows"][row] = _entry(row, choose_total_loss_lr(by_lr), by_lr, None)
            continue
        if not all(task in singles for task in tasks):
            summary["pending"].append(row)
            continue
        lr = choose_multitask_lr(by_lr, singles, delta_mtl)
        entry = _entry(row, lr, by_lr, row_deltas(by_lr[lr], singles, "test", delta_mtl))
        entry["val_delta_by_lr"] = {str(l): mean_std(list(row_deltas(runs, singles, "val", delta_mtl).values())) for l, runs in by_lr.items()}
        summary["rows"][row] = entry
    _pair_rows(summary["rows"], grid)
    return summary


def _pair_rows(rows: dict[str, dict[str, Any]], grid: Mapping[str, Mapping[float, Mapping[int, Mapping[str, Any]]]]) -> None:
    """Add each row's paired comparisons: Δ_MTL vs `none`, Δ_MTL vs its plain twin, and the direct gap to that twin."""
    reference = rows.get("none", {}).get("test_delta_by_seed")
    for row, entry in rows.items():
        deltas = entry.get("test_delta_by_seed")
        if reference is not None and deltas is not None and row != "none":
            entry["vs_none"] = _paired(deltas, reference)
        plain = plain_reference(row, rows)
        if plain is None:
            continue
        if deltas is not None and "test_delta_by_seed" in rows[plain]:
            entry["vs_plain"] = _paired(deltas, rows[plain]["test_delta_by_seed"]) | {"reference": plain}
        gaps = direct_gaps(grid[row][entry["lr"]], grid[plain][rows[plain]["lr"]], "test", delta_mtl)
        entry["vs_plain_direct"] = _paired(gaps, {seed: 0.0 for seed in gaps}) | {"reference": plain}


def _paired(deltas: Mapping[int, float], reference: Mapping[int, float]) -> dict[str, Any]:
    paired = Interval.of([deltas[s] - reference[s] for s in sorted(deltas)])
    return asdict(paired) | {"excludes_zero": paired.excludes_zero}


def plain_reference(row: str, rows: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The multitask row with scheme `none` that deploys the same network as `row` (equal collapsed
    parameters and MACs): "better at the same deploy cost" compares against it. None for a plain row."""
    entry = rows[row]
    if entry["scheme"] == "none" or row.startswith("single_"):
        return None
    for name, other in rows.items():
        if (other["scheme"] == "none" and not name.startswith("single_") and other["tasks"] == entry["tasks"]
                and other["params"][0] == entry["params"][0] and other["gmacs"][0] == entry["gmacs"][0]):
            return name
    return None


def _entry(row: str, lr: float, by_lr: Mapping[float, Mapping[int, Mapping[str, Any]]], test_deltas: Mapping[int, float] | None) -> dict[str, Any]:
    runs = by_lr[lr]
    first = next(iter(runs.values()))
    entry: dict[str, Any] = {"row": row, "scheme": first["scheme"], "tasks": first["tasks"], "lr": lr, "seeds": sorted(runs)}
    for key in ("params", "train_params", "gmacs", "seconds"):
        entry[key] = mean_std([r[key] for r in runs.values()])
    entry["test"] = {t: {m: mean_std([r["metrics"]["test"][t][m] for r in runs.values()]) for m in first["metrics"]["test"][t]} for t in first["tasks"]}
    if test_deltas is not None:
        entry["test_delta_by_seed"] = {int(s): d for s, d in test_deltas.items()}
        entry["test_delta"] = mean_std(list(test_deltas.values()))
    entry["val_loss_curves"] = {str(s): r["val_loss_curve"] for s, r in runs.items()}
    if all("train_loss_curve" in r for r in runs.values()):  # runs cached before it was recorded lack it
        entry["train_loss"] = mean_std([r["train_loss_curve"][-1][1] for r in runs.values()])
    return entry


def _pm(value: tuple[float, float], digits: int = 4) -> str:
    return f"{value[0]:.{digits}f} ± {value[1]:.{digits}f}"


def _row_cells(entry: Mapping[str, Any], metric_names: list[tuple[str, str]]) -> list[str]:
    cells = [entry["row"], f"{entry['lr']:g}", f"{entry['params'][0]:,.0f}", f"{entry['gmacs'][0]:.3f}"]
    cells += ["—" if t not in entry["test"] else _pm(entry["test"][t][m], 3) for t, m in metric_names]
    cells.append(_pm(entry["test_delta"], 2) if "test_delta" in entry else ("0 (baseline)" if entry["row"].startswith("single_") else "—"))
    for key in ("vs_none", "vs_plain", "vs_plain_direct"):
        vs = entry.get(key)
        reference = f" vs {vs['reference']}" if key != "vs_none" and vs is not None else ""
        cells.append("—" if vs is None else f"{vs['mean']:+.2f} [{vs['low']:+.2f}, {vs['high']:+.2f}]{reference}")
    cells.append(_pm(entry["train_loss"], 3) if "train_loss" in entry else "—")
    cells.append(f"{entry['seconds'][0]:.0f}")
    return cells


def markdown(summary: Mapping[str, Any], meta: Mapping[str, Any], hardware: str) -> str:
    metric_names = [(t, m) for t, ms in TASK_METRICS.items() for m in ms]
    header = (["row", "lr", "params", "GMACs"] + [f"{t[:3]} {m}" for t, m in metric_names]
              + ["Δ_MTL % (test)", "vs none (paired, 95 % CI)", "vs plain, same deploy cost (paired, 95 % CI)",
                 "vs plain, direct (paired, 95 % CI)", "final train loss", "time s"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_row_cells(entry, metric_names)) + " |" for entry in summary["rows"].values()]
    lr_lines = ["| row | " + " | ".join(f"lr {lr:g}" for lr in meta["lrs"]) + " |", "|---|" + "---|" * len(meta["lrs"])]
    for entry in summary["rows"].values():
        if "val_delta_by_lr" in entry:
            lr_lines.append(f"| {entry['row']} | " + " | ".join(_pm(tuple(entry["val_delta_by_lr"][str(lr)]), 2) for lr in meta["lrs"]) + " |")
    pending = f"\n\nPending (not all runs finished): {', '.join(summary['pending'])}." if summary["pending"] else ""
    return (
        f"# Scheme comparison ({meta['preset']} preset)\n\n"
        f"Config `{meta['config']}`, overrides {meta['overrides']}; {meta['train']} train / {meta['val']} val frames "
        f"(seed {meta['data_seed']}), {meta['test']} test frames (seed {meta['test_seed']}, used for nothing else); "
        f"seeds {meta['seeds']}; lr grid {meta['lrs']}; {hardware}.\n\n"
        "Each row's lr is chosen on val; metrics below are on the test split, final epoch, mean ± std over seeds. "
        "Δ_MTL is against the single-task baselines of the same seed; 'vs none' is the paired per-seed difference "
        "of Δ_MTL with its 95 % t-interval; 'vs plain' pairs the row with the `none` row that deploys the same "
        "collapsed network (equal parameters and GMACs), so a positive interval means better at the same deploy cost; "
        "'direct' is Δ_MTL with that plain row of the same seed as the baseline (defined without single-task rows). "
        "Final train loss: the last epoch's mean training loss summed over tasks.\n\n" + "\n".join(lines) +
        "\n\n## Val Δ_MTL % per learning rate (the choice above)\n\n" + "\n".join(lr_lines) + pending + "\n"
    )


def write_report(results: Results, meta: Mapping[str, Any], out: Path) -> dict[str, Any]:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(results, meta)
    hardware = f"{platform.processor() or platform.machine()}, {meta['jobs']} parallel run(s) × {meta['threads_per_run']} torch threads, torch {torch.__version__}"
    document = {"meta": dict(meta), "hardware": hardware, "summary": summary,
                "runs": [dict(r) for _, r in sorted(results.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2]))]}
    (out / "compare.json").write_text(json.dumps(document, indent=1) + "\n")
    (out / "compare.md").write_text(markdown(summary, meta, hardware))
    _plots(summary, meta, out)
    return document


def _plots(summary: Mapping[str, Any], meta: Mapping[str, Any], out: Path) -> None:
    from .plots import plot_delta_bars, plot_val_loss_curves

    bars = [(e["row"], e["test_delta"][0], e["test_delta"][1]) for e in summary["rows"].values() if "test_delta" in e]
    if bars:
        plot_delta_bars(bars, out / "delta_mtl.png", f"test Δ_MTL vs single-task ({meta['preset']}, seeds {meta['seeds']})")
    if "none" in summary["rows"]:
        plot_val_loss_curves(summary["rows"]["none"]["val_loss_curves"], out / "none_val_loss.png", f"none (lr {summary['rows']['none']['lr']:g}): val loss sum per epoch")
