"""`eval-rgbd`: the real-frame metrics against hand-worked values, the CLI end to end, its errors, and the real frames."""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from mtl_perception import cli
from mtl_perception.data.camera import Camera
from mtl_perception.tools import rgbd_metrics as rm
from mtl_perception.tools.rgbd_folders import read_depth

REAL_FRAMES = Path(__file__).resolve().parents[2].parent / "shared" / "real_frames"

# A tiny depth map (metres): 0 (no reading), 12 (beyond 10 m) and 0.05 (below 0.1 m) are invalid.
# The six valid depths, sorted: 1, 1, 2, 2, 4, 8 -> median 2.
DEPTH = np.array([[1.0, 2.0, 4.0], [0.0, 2.0, 8.0], [12.0, 0.05, 1.0]])
VALID = rm.valid_depth(DEPTH, 0.1, 10.0)


def test_valid_depth_is_the_open_closed_range():
    assert VALID.tolist() == [[True, True, True], [False, True, True], [False, False, True]]
    assert rm.valid_depth(np.array([0.1, 10.0, np.nan, np.inf]), 0.1, 10.0).tolist() == [False, True, False, False]


def test_a_constant_prediction_scores_exactly_as_the_constant_baseline():
    scores = rm.score_depth(np.full(DEPTH.shape, 4.0), DEPTH, VALID)
    assert scores["pixels"] == 6
    # Scaled by median(sensor) / median(pred) = 2 / 4, the prediction is 2 everywhere:
    # |2 - d| / d over d = 1, 2, 4, 2, 8, 1 is 1, 0, 1/2, 0, 3/4, 1 -> 3.25 / 6; max(2/d, d/2) < 1.25 only where d = 2.
    assert scores["model"]["scale"] == 0.5
    assert scores["constant"]["si_abs_rel"] == 3.25 / 6
    assert scores["constant"]["si_delta_1.25"] == 2 / 6
    assert scores["model"]["si_abs_rel"] == scores["constant"]["si_abs_rel"]
    assert scores["model"]["si_delta_1.25"] == scores["constant"]["si_delta_1.25"]
    # Metric, unscaled: |4 - d| / d is 3, 1, 0, 1, 1/2, 3 -> 8.5 / 6; only d = 4 is within 1.25.
    assert scores["model"]["abs_rel"] == 8.5 / 6
    assert scores["model"]["delta_1.25"] == 1 / 6


def test_a_scaled_copy_of_the_depth_is_perfect_up_to_scale():
    scores = rm.score_depth(2.5 * DEPTH, DEPTH, VALID)["model"]
    assert scores["scale"] == 0.4
    assert scores["si_abs_rel"] == 0.0
    assert scores["si_delta_1.25"] == 1.0
    assert scores["abs_rel"] == 1.5  # |2.5 d - d| / d
    assert scores["delta_1.25"] == 0.0


def test_invalid_sensor_pixels_and_non_positive_predictions_are_left_out(tmp_path):
    raw = np.array([[5000, 0, 65535], [10000, 60000, 400]], dtype=np.uint16)  # /5000: 1, -, -, 2, 12, 0.08 m
    cv2.imwrite(str(tmp_path / "d.png"), raw)
    depth = read_depth(tmp_path / "d.png", 5000.0)
    assert depth.tolist() == [[1.0, 0.0, 0.0], [2.0, 12.0, 0.08]]
    valid = rm.valid_depth(depth, 0.1, 10.0)
    assert valid.tolist() == [[True, False, False], [True, False, False]]
    # Wild predictions on the invalid pixels change nothing; so does a pixel whose prediction is not positive.
    pred = np.array([[1.0, 1e6, -3.0], [2.0, 1e-6, 1e9]])
    assert rm.score_depth(pred, depth, valid)["model"] == {
        "si_abs_rel": 0.0, "si_delta_1.25": 1.0, "abs_rel": 0.0, "delta_1.25": 1.0, "scale": 1.0}
    pred[1, 0] = 0.0
    scores = rm.score_depth(pred, depth, valid)
    assert scores["pixels"] == 1 and scores["model"]["abs_rel"] == 0.0
    assert rm.score_depth(np.zeros_like(pred), depth, valid) is None


# A tilted plane n·X = -2 seen by a pinhole camera: depth d(u, v) = -2 / (n · ((u - cx)/fx, (v - cy)/fy, 1)).
H, W = 96, 128
CAMERA = Camera(fx=100.0, fy=110.0, cx=60.0, cy=50.0, height=H, width=W)
PLANE = np.array([0.3, -0.4, -1.0]) / math.sqrt(1.25)  # faces the camera (negative z)


def _plane_depth(normal: np.ndarray, offset: float = 2.0) -> np.ndarray:
    u = (np.arange(W) - CAMERA.cx) / CAMERA.fx
    v = (np.arange(H) - CAMERA.cy) / CAMERA.fy
    return -offset / (normal[0] * u[None, :] + normal[1] * v[:, None] + normal[2])


def _rotated(vector: np.ndarray, degrees: float) -> np.ndarray:
    """`vector` turned by `degrees` about an axis perpendicular to it (Rodrigues)."""
    axis = np.cross(vector, [1.0, 0.0, 0.0])
    axis /= np.linalg.norm(axis)
    a = math.radians(degrees)
    return vector * math.cos(a) + np.cross(axis, vector) * math.sin(a) + axis * np.dot(axis, vector) * (1 - math.cos(a))


def test_sensor_normals_of_a_tilted_plane_match_the_analytic_normal():
    depth = _plane_depth(PLANE)
    normals = rm.sensor_normals(depth, CAMERA, rm.valid_depth(depth, 0.1, 10.0))
    valid = np.any(normals != 0, axis=-1)
    inner = np.zeros((H, W), dtype=bool)
    inner[4:-4, 4:-4] = True
    assert (valid == inner).all()  # only the 4 px border, where a neighbour is missing, is dropped
    assert rm.angles_deg(normals[valid], np.broadcast_to(PLANE, (valid.sum(), 3))).max() < 0.5

    exact = rm.score_normals(np.broadcast_to(PLANE, (H, W, 3)), normals)
    assert exact["pixels"] == (H - 8) * (W - 8)
    assert exact["model"]["mean"] < 1e-3
    assert exact["model"]["within_11.25"] == 1.0
    # The constant baseline (0, 0, -1) is off by atan(|(0.3, -0.4)|) = atan(0.5).
    assert exact["constant"]["mean"] == pytest.approx(math.degrees(math.atan(0.5)), abs=1e-3)

    turned = rm.score_normals(np.broadcast_to(_rotated(PLANE, 20.0), (H, W, 3)), normals)["model"]
    assert turned["mean"] == pytest.approx(20.0, abs=1e-3)
    assert turned["median"] == pytest.approx(20.0, abs=1e-3)
    assert (turned["within_11.25"], turned["within_22.5"], turned["within_30"]) == (0.0, 1.0, 1.0)


def test_normals_are_dropped_where_a_neighbour_4_px_away_jumps_by_more_than_10_percent():
    depth = np.full((H, W), 2.0)
    depth[:, 64:] = 3.0  # a step at column 64: 50 % of the near side's depth
    depth[50, 30] = 2.1  # a 5 % bump: kept
    normals = rm.sensor_normals(depth, CAMERA, rm.valid_depth(depth, 0.1, 10.0))
    valid_columns = np.flatnonzero(np.any(normals[50] != 0, axis=-1))
    # A pixel needs both u - 4 and u + 4 on its own side of the step (and inside the image).
    assert valid_columns.tolist() == [*range(4, 60), *range(68, W - 4)]
    # A pixel whose own depth is invalid, or whose neighbour's is, is dropped too.
    depth[20, 20] = 0.0
    normals = rm.sensor_normals(depth, CAMERA, rm.valid_depth(depth, 0.1, 10.0))
    dropped = {(20, 20), (16, 20), (24, 20), (20, 16), (20, 24)}
    assert {(r, c) for r, c in dropped if np.all(normals[r, c] == 0)} == dropped


def test_mean_over_frames_leaves_out_frames_without_valid_pixels():
    frames = [{"pixels": 4, "model": {"a": 1.0}}, None, {"pixels": 2, "model": {"a": 0.0}}]
    assert rm.mean_over_frames(frames) == {"pixels": 3.0, "model": {"a": 0.5}}
    assert rm.mean_over_frames([None]) is None


# --- the command -------------------------------------------------------------------------------

FH, FW = 64, 80


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    from support.bags import make_artifact

    return make_artifact(tmp_path_factory.mktemp("eval_rgbd_art"))


def _write_folder(root: Path, frames: int = 3, rgb_ext: str = ".png", depth_ext: str = ".png") -> Path:
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    rng = np.random.default_rng(0)
    u = (np.arange(FW) - (FW - 1) / 2) / 525.0
    for i in range(frames):
        cv2.imwrite(str(root / "rgb" / f"{i:03d}{rgb_ext}"), rng.integers(0, 256, (FH, FW, 3), dtype=np.uint8))
        metres = np.broadcast_to(1.5 + i * 0.2 + u[None, :], (FH, FW)).copy()
        if depth_ext == ".npy":
            metres[0, :10] = np.nan
            np.save(root / "depth" / f"{i:03d}.npy", metres.astype(np.float32))
        else:
            raw = np.rint(metres * 1000).astype(np.uint16)
            raw[0, :10], raw[1, :10] = 0, 65535
            cv2.imwrite(str(root / "depth" / f"{i:03d}.png"), raw)
    return root


QUIET = ("--depth-scale", "1000", "--fx", "525", "--fy", "525", "--cx", "39.5", "--cy", "31.5")  # no notes on stderr


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["eval-rgbd", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_writes_a_report_and_a_panel(tmp_path, capsys, artifact):
    png = _write_folder(tmp_path / "png")
    npy = _write_folder(tmp_path / "npy", frames=2, rgb_ext=".jpg", depth_ext=".npy")
    report, panel = tmp_path / "out" / "report.json", tmp_path / "out" / "panel.png"
    code, out, err = _run(capsys, str(png), str(npy), "--model", str(artifact), "--device", "cpu", "--no-progress",
                          "--depth-scale", "1000", "--report", str(report), "--panel", str(panel), "--panel-frames", "2")
    assert code == 0, err
    assert "intrinsics not given" in err  # the defaults are said aloud
    assert "AbsRel, scale-invariant" in out and str(png) in out and str(npy) in out
    document = json.loads(report.read_text())
    assert document["model"] == "model" and document["depth_scale"] == 1000.0
    first, second = document["folders"]
    assert (first["frames"], second["frames"]) == (3, 2)
    assert first["image_size"] == [FH, FW]
    assert first["intrinsics"] == {"fx": 525.0, "fy": 525.0, "cx": 39.5, "cy": 31.5, "defaulted": ["fx", "fy", "cx", "cy"]}
    assert set(first["depth"]) == {"frames_scored", "pixels_per_frame", "model", "constant"}
    assert set(first["depth"]["model"]) == {"si_abs_rel", "si_delta_1.25", "abs_rel", "delta_1.25", "scale"}
    assert set(first["depth"]["constant"]) == {"si_abs_rel", "si_delta_1.25"}
    assert set(first["normals"]["model"]) == set(first["normals"]["constant"]) == {"mean", "median", "within_11.25", "within_22.5", "within_30"}
    assert first["depth"]["pixels_per_frame"] == FH * FW - 20  # 0 and 65535 left out
    assert second["depth"]["pixels_per_frame"] == FH * FW - 10  # NaN left out; .npy is metres, --depth-scale is for PNGs
    assert [frame["frame"] for frame in first["per_frame"]] == ["000", "001", "002"]
    image = cv2.imread(str(panel))
    # Per folder: a 38 px title bar and two 64 px rows; six 80 px tiles with 4 px gaps; 4 px between parts.
    assert image.shape == (2 * (38 + 4 + FH + 4 + FH) + 4, 6 * FW + 5 * 4, 3)


def test_depth_scale_divides_16_bit_png_depth_and_npy_depth_is_metres(tmp_path):
    png = _write_folder(tmp_path / "png", frames=1)
    npy = _write_folder(tmp_path / "npy", frames=1, depth_ext=".npy")
    # The PNG holds rint(1000 · (1.5 + 0.5 / 525)) = 1501: millimetres without --depth-scale.
    assert read_depth(png / "depth" / "000.png", None)[5, 40] == 1501 / 1000
    assert read_depth(png / "depth" / "000.png", 5000.0)[5, 40] == 1501 / 5000
    for scale in (None, 1000.0):
        assert read_depth(npy / "depth" / "000.npy", scale)[5, 40] == np.float32(1.5 + 0.5 / 525.0)


def _broken(root: Path, case: str) -> tuple[Path, str]:
    folder = _write_folder(root / case, frames=1)
    if case == "no depth folder":
        for path in (folder / "depth").iterdir():
            path.unlink()
        (folder / "depth").rmdir()
        return folder, "no depth/ folder"
    if case == "no pairs":
        (folder / "depth" / "000.png").rename(folder / "depth" / "001.png")
        return folder, "no rgb/depth pairs"
    if case == "size mismatch":
        cv2.imwrite(str(folder / "depth" / "000.png"), np.ones((32, 40), np.uint16))
        return folder, "rgb is 80x64 but depth is 40x32"
    if case == "unreadable":
        (folder / "rgb" / "000.png").write_bytes(b"not a png")
        return folder, "not a readable image"
    if case == "8-bit depth":
        cv2.imwrite(str(folder / "depth" / "000.png"), np.ones((FH, FW), np.uint8))
        return folder, "8-bit image; expected a 16-bit depth PNG"
    if case == "16-bit rgb":
        cv2.imwrite(str(folder / "rgb" / "000.png"), np.ones((FH, FW, 3), np.uint16))
        return folder, "16-bit image; expected 8-bit colour"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["no depth folder", "no pairs", "size mismatch", "unreadable", "8-bit depth", "16-bit rgb"])
def test_a_bad_folder_is_one_line_and_exit_code_2(tmp_path, capsys, artifact, case):
    folder, message = _broken(tmp_path, case)
    code, out, err = _run(capsys, str(folder), "--model", str(artifact), "--device", "cpu", "--no-progress", *QUIET)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mtl-perception eval-rgbd: error: "), err
    assert message in lines[0]


@pytest.mark.parametrize("flags, message", [
    (["--depth-scale", "0"], "--depth-scale must be > 0"),
    (["--min-depth", "5", "--max-depth", "2"], "--min-depth < --max-depth"),
    (["--limit", "0"], "--limit must be >= 1"),
    (["--report", "."], "it is a directory"),
])
def test_bad_flags_are_one_line_and_exit_code_2(tmp_path, capsys, flags, message):
    folder = _write_folder(tmp_path / "ok", frames=1)
    code, _, err = _run(capsys, str(folder), *flags)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err


@pytest.mark.skipif(not (REAL_FRAMES / "tum_fr1_rpy").is_dir(), reason="../shared/real_frames is absent (outside this workspace)")
def test_the_bundled_model_on_three_real_frames(tmp_path, capsys):
    folder = REAL_FRAMES / "tum_fr1_rpy"
    report = tmp_path / "tum.json"
    code, _, err = _run(capsys, str(folder), "--limit", "3", "--depth-scale", "5000", "--fx", "517.3", "--fy", "516.5",
                        "--cx", "318.6", "--cy", "255.3", "--device", "cpu", "--no-progress", "--report", str(report))
    assert code == 0, err
    section = json.loads(report.read_text())["folders"][0]
    assert section["frames"] == 3 and section["intrinsics"]["defaulted"] == []
    figures = [section[task][side] for task in ("depth", "normals") for side in ("model", "constant")]
    assert all(math.isfinite(value) for group in figures for value in group.values())
    # The constant baseline, recomputed here from the PNGs alone.
    expected_abs_rel, expected_delta = [], []
    for stem in ("000", "001", "002"):
        raw = cv2.imread(str(folder / "depth" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        d = raw.astype(np.float64) / 5000
        d = d[(raw != 65535) & (d > 0.1) & (d <= 10)]
        median = np.median(d)
        expected_abs_rel.append(np.mean(np.abs(median - d) / d))
        expected_delta.append(np.mean(np.maximum(median / d, d / median) < 1.25))
    assert section["depth"]["constant"]["si_abs_rel"] == pytest.approx(np.mean(expected_abs_rel), rel=1e-12)
    assert section["depth"]["constant"]["si_delta_1.25"] == pytest.approx(np.mean(expected_delta), rel=1e-12)
