"""CLI train → export (collapse + BN fusion, ONNX) → eval: the artifact computes what was trained."""
import argparse
import json

import numpy as np
import pytest
import torch

from mtl_perception.cli import main
from mtl_perception.runtime import load_artifact, load_engine, read_meta
from mtl_perception.training.checkpoint import load_checkpoint
from mtl_perception.training.export import export_checkpoint
from mtl_perception.training.build import model_from_checkpoint, normalize_images

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from mtl_perception.tools import make_dataset

    root = tmp_path_factory.mktemp("export")
    args = argparse.Namespace(out=root / "data", train=4, val=2, height=32, width=48, seed=0, preview=0, overwrite=False)
    assert make_dataset.run(args) == 0
    # One epoch moves BN statistics and every factor away from their initial values.
    code = main(["train", "--out", str(root / "run"), f"data.root={root / 'data'}", "data.height=32", "data.width=48",
                 "model.width=0.25", "batch_size=2", "epochs=1", "model.scheme=svd_shared", "schedule.phase_a=1",
                 "schedule.phase_b=1", "tensorboard=false", "plots=false", "device=cpu"])
    assert code == 0
    return root


def test_export_matches_training_form(trained_run, capsys):
    out = trained_run / "artifact"
    assert main(["export", str(trained_run / "run" / "best.pt"), "--out", str(out), "--onnx", "--name", "tiny"]) == 0
    printed = capsys.readouterr().out
    assert "max |training form - artifact|" in printed and "onnxruntime" in printed
    meta = read_meta(out)
    assert meta.name == "tiny" and meta.net.fused_bn and (meta.input_height, meta.input_width) == (32, 48)
    assert meta.training["scheme"] == "svd_shared" and "command" in meta.training and meta.training["val_metrics"]
    assert (out / "model.onnx").is_file()

    # Independent check on fresh frames: training form (as trained) vs the served artifact.
    model = model_from_checkpoint(load_checkpoint(trained_run / "run" / "best.pt"))
    engine = load_engine(out, device="cpu")
    rng = np.random.default_rng(3)
    for _ in range(2):
        frame = rng.integers(0, 256, size=(32, 48, 3), dtype=np.uint8)
        with torch.no_grad():
            reference = model(normalize_images(torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255.0))
        served = engine.forward(frame)
        for task in ("segmentation", "depth", "normals"):
            torch.testing.assert_close(served[task], reference[task], rtol=1e-4, atol=1e-4)

    import onnxruntime

    session = onnxruntime.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    x = normalize_images(torch.rand(1, 3, 32, 48))
    onnx_out = session.run(None, {"image": x.numpy()})
    net, _ = load_artifact(out)
    with torch.no_grad():
        torch_out = net(x)
    for got, task in zip(onnx_out, meta.tasks):
        np.testing.assert_allclose(got, torch_out[task].numpy(), rtol=1e-3, atol=1e-4)


def test_export_function_reports_small_differences(trained_run):
    differences = export_checkpoint(trained_run / "run" / "last.pt", trained_run / "artifact_last", data_root=str(trained_run / "data"), frames=2)
    assert set(differences) == {"segmentation", "depth", "normals"}
    assert max(differences.values()) < 1e-4


def test_eval_artifact_and_checkpoint_agree(trained_run, tmp_path):
    export_checkpoint(trained_run / "run" / "best.pt", tmp_path / "art", data_root=str(trained_run / "data"), frames=1)
    results = {}
    for name, target in (("artifact", tmp_path / "art"), ("checkpoint", trained_run / "run" / "best.pt")):
        json_path = tmp_path / f"{name}.json"
        assert main(["eval", str(target), "--data", str(trained_run / "data"), "--json", str(json_path), "--device", "cpu"]) == 0
        results[name] = json.loads(json_path.read_text())["metrics"]
    for task, metrics in results["artifact"].items():
        for key, value in metrics.items():
            if key == "per_class_iou":  # null for classes neither form predicts nor sees
                other = results["checkpoint"][task][key]
                assert [v is None for v in value] == [v is None for v in other]
                assert [v for v in value if v is not None] == pytest.approx([v for v in other if v is not None], rel=1e-3, abs=1e-3)
                continue
            assert value == pytest.approx(results["checkpoint"][task][key], rel=1e-3, abs=1e-3), (task, key)


def test_eval_baselines_prints_both_and_writes_json(trained_run, tmp_path, capsys):
    export_checkpoint(trained_run / "run" / "best.pt", tmp_path / "art", data_root=str(trained_run / "data"), frames=1)
    out = tmp_path / "eval.json"
    assert main(["eval", str(tmp_path / "art"), "--data", str(trained_run / "data"), "--baselines", "--json", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "| task | metric | model | priors |" in printed and "| class | IoU model | IoU priors |" in printed
    document = json.loads(out.read_text())
    assert set(document["priors"]) == set(document["metrics"]) == {"segmentation", "depth", "normals"}
    assert document["prior_data"] == str(trained_run / "data")


@pytest.mark.parametrize("net_options", [["model.arch=efficientnet_lite0"], ["model.decoder=per_task"],
                                         ["model.arch=efficientnet_lite0", "model.decoder=per_task"]], ids=["lite0", "per_task", "lite0_per_task"])
def test_export_every_encoder_and_decoder(trained_run, tmp_path, net_options):
    """Train a step of svd_shared, export with ONNX: artifact, engine and ONNX Runtime compute the training form."""
    run, out = tmp_path / "run", tmp_path / "artifact"
    assert main(["train", "--out", str(run), f"data.root={trained_run / 'data'}", "data.height=32", "data.width=48",
                 "model.base_channels=[8,12]", "batch_size=2", "epochs=1", "model.scheme=svd_shared", *net_options,
                 "tensorboard=false", "plots=false", "device=cpu", "data.train_limit=2"]) == 0
    assert main(["export", str(run / "best.pt"), "--out", str(out), "--onnx", "--name", "tiny"]) == 0
    model = model_from_checkpoint(load_checkpoint(run / "best.pt"))
    engine = load_engine(out, device="cpu")
    frame = np.random.default_rng(4).integers(0, 256, size=(32, 48, 3), dtype=np.uint8)
    x = normalize_images(torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255.0)
    with torch.no_grad():
        reference = model(x)
    served = engine.forward(frame)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = dict(zip(read_meta(out).tasks, session.run(None, {"image": x.numpy()})))
    for task in ("segmentation", "depth", "normals"):
        torch.testing.assert_close(served[task], reference[task], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(onnx_out[task], reference[task].numpy(), rtol=1e-3, atol=1e-4)
