"""Deploy artifact round trip and the errors for bad files and bad frames."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from mtl_perception.model import MultiTaskNet, NetConfig, collapse, overparameterize
from mtl_perception.runtime import ArtifactError, InputError, load_artifact, load_engine, save_artifact

CLASSES = ("floor", "wall", "thing")
PALETTE = ((10, 20, 30), (40, 50, 60), (70, 80, 90))
MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


# The round trip for each encoder family and decoder option (the rest of this file on the first).
NETS = {"segnet": {}, "efficientnet_lite0": {"arch": "efficientnet_lite0"}, "segnet_per_task": {"decoder": "per_task"},
        "efficientnet_lite0_per_task": {"arch": "efficientnet_lite0", "decoder": "per_task"}}


def _artifact(tmp_path, **net_options):
    torch.manual_seed(0)
    config = NetConfig(num_classes=3, base_channels=(8, 16), task_layers=1, **net_options)
    net = collapse(overparameterize(MultiTaskNet(config), "svd_shared"), fuse_bn=True)
    path = save_artifact(net.eval(), tmp_path / "art", class_names=CLASSES, palette=PALETTE, input_size=(32, 48), mean=MEAN, std=STD, name="tiny")
    return net.eval(), path


@pytest.fixture()
def artifact(tmp_path):
    return _artifact(tmp_path)


@pytest.mark.parametrize("net_name", sorted(NETS))
def test_round_trip_outputs_identical(tmp_path, net_name) -> None:
    net, path = _artifact(tmp_path, **NETS[net_name])
    loaded, meta = load_artifact(path)
    assert meta.class_names == CLASSES and meta.palette == PALETTE and meta.name == "tiny"
    assert meta.net == net.config
    x = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        a, b = net(x), loaded(x)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_engine_predict_matches_independent_preprocessing(artifact) -> None:
    net, path = artifact
    engine = load_engine(path, device="cpu")
    rgb = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    # Reference normalisation in float64 numpy, network run directly.
    normalised = (rgb.astype(np.float64) / 255.0 - np.array(MEAN)) / np.array(STD)
    x = torch.from_numpy(normalised.transpose(2, 0, 1)[None]).float()
    with torch.no_grad():
        ref = net(x)
    pred = engine.predict(rgb)
    assert pred.segmentation.dtype == np.uint8 and pred.segmentation.shape == (32, 48)
    assert np.array_equal(pred.segmentation, ref["segmentation"].argmax(1)[0].numpy().astype(np.uint8))
    assert np.allclose(pred.depth, ref["depth"][0, 0].numpy(), atol=1e-5)
    assert np.allclose(pred.normals, ref["normals"][0].permute(1, 2, 0).numpy(), atol=1e-5)


def test_engine_resizes_back_to_input_resolution(artifact) -> None:
    _, path = artifact
    engine = load_engine(path, device="cpu")
    rgb = np.random.default_rng(1).integers(0, 256, (61, 93, 3), dtype=np.uint8)
    pred = engine.predict(rgb)
    assert pred.segmentation.shape == (61, 93) and pred.depth.shape == (61, 93) and pred.normals.shape == (61, 93, 3)
    assert np.allclose(np.linalg.norm(pred.normals, axis=-1), 1.0, atol=1e-5)
    assert pred.depth.dtype == np.float32 and bool((pred.depth > 0).all())
    # Depth is the bilinear resize of the network-resolution depth.
    raw = engine.forward(rgb)["depth"]
    expected = F.interpolate(raw, size=(61, 93), mode="bilinear", align_corners=False)[0, 0].numpy()
    assert np.allclose(pred.depth, expected, atol=1e-6)
    small = engine.predict(rgb, output_size=engine.input_size)
    assert small.depth.shape == (32, 48)


@pytest.mark.parametrize(
    "frame, message",
    [
        (np.zeros((32, 48, 3), np.float32), "uint8"),
        (np.zeros((32, 48), np.uint8), "H×W×3"),
        (np.zeros((0, 48, 3), np.uint8), "zero size"),
        ([[0, 0, 0]], "numpy array"),
    ],
)
def test_engine_rejects_bad_frames(artifact, frame, message) -> None:
    engine = load_engine(artifact[1], device="cpu")
    with pytest.raises(InputError, match=message):
        engine.predict(frame)


def test_missing_directory_and_files(tmp_path, artifact) -> None:
    with pytest.raises(ArtifactError, match="not found"):
        load_engine(tmp_path / "nowhere")
    path = artifact[1]
    (path / "model.safetensors").unlink()
    with pytest.raises(ArtifactError, match="model.safetensors: missing"):
        load_artifact(path)


def test_truncated_weights_refused(artifact) -> None:
    path = artifact[1] / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_artifact(artifact[1])


def test_corrupt_weights_with_matching_checksum_refused(artifact) -> None:
    import hashlib

    weights = artifact[1] / "model.safetensors"
    weights.write_bytes(b"{not a safetensors header" + bytes(64))
    meta = json.loads((artifact[1] / "model.json").read_text())
    meta["weights"]["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (artifact[1] / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="not a readable safetensors"):
        load_artifact(artifact[1])


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_pickle_payload_refused_without_unpickling(artifact, tmp_path, writer) -> None:
    import hashlib

    marker = tmp_path / "executed"
    weights = artifact[1] / "model.safetensors"

    class Payload:
        def __reduce__(self):
            return (marker.write_text, ("pwned",))

    if writer == "pickle":
        weights.write_bytes(pickle.dumps(Payload()))
    else:
        torch.save({"x": Payload()}, weights)
    meta = json.loads((artifact[1] / "model.json").read_text())
    meta["weights"]["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (artifact[1] / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="pickle"):
        load_artifact(artifact[1])
    assert not marker.exists()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m.update(format="other"), "format"),
        (lambda m: m["net"].update(width=2.0), "shapes do not match"),
        (lambda m: m["net"].update(task_layers=3), "do not match the config"),
        (lambda m: m.update(class_names=["a"]), "class_names"),
        (lambda m: m["net"].update(bogus=1), "unknown NetConfig keys"),
        (lambda m: m["input"].update(height=4), "height/width"),
    ],
)
def test_inconsistent_json_refused(artifact, edit, message) -> None:
    meta_path = artifact[1] / "model.json"
    meta = json.loads(meta_path.read_text())
    edit(meta)
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=message):
        load_artifact(artifact[1])


def test_bad_json_refused(artifact) -> None:
    (artifact[1] / "model.json").write_text("{ truncated")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_artifact(artifact[1])


def test_training_form_cannot_be_saved(tmp_path) -> None:
    big = overparameterize(MultiTaskNet(NetConfig(num_classes=3, base_channels=(8, 16))), "svd")
    with pytest.raises(ValueError, match="collapse"):
        save_artifact(big, tmp_path, class_names=CLASSES, palette=PALETTE, input_size=(32, 32))


def test_device_and_precision_errors(artifact) -> None:
    with pytest.raises(ValueError, match="device must be"):
        load_engine(artifact[1], device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            load_engine(artifact[1], device="cuda")
        with pytest.raises(ValueError, match="half=True needs a CUDA device"):
            load_engine(artifact[1], device="cpu", half=True)


def test_safetensors_header_length_that_looks_like_pickle_opcode_loads(tmp_path) -> None:
    # The 8-byte header length is little-endian; a low byte of 0x80 must not read as a pickle.
    from safetensors.torch import load_file

    for width in (0.25, 0.3, 0.5, 0.75, 1.0):
        for layers in (0, 1, 2, 3):
            torch.manual_seed(0)
            net = MultiTaskNet(NetConfig(num_classes=3, width=width, task_layers=layers)).eval()
            path = save_artifact(net, tmp_path / f"w{width}_{layers}", class_names=CLASSES, palette=PALETTE, input_size=(32, 32))
            if (path / "model.safetensors").read_bytes()[:1] == b"\x80":
                loaded, _ = load_artifact(path)
                tensors = load_file(str(path / "model.safetensors"))
                assert all(torch.equal(loaded.state_dict()[k], tensors[k]) for k in tensors)
                return
    pytest.fail("no configuration produced a header length with low byte 0x80; widen the search")


def test_model_info_on_an_artifact_counts_deploy_and_training_forms(tmp_path, capsys):
    from mtl_perception.cli import main as cli_main
    from mtl_perception.model.complexity import count_parameters

    from support.artifacts import make_tiny_artifact

    artifact = make_tiny_artifact(tmp_path / "m")
    assert cli_main(["model-info", "--artifact", str(artifact)]) == 0
    printed = capsys.readouterr().out
    deployed, _ = load_artifact(artifact)  # the fused network itself, counted independently of model-info
    assert f"deploy parameters (BN fused): {count_parameters(deployed):>7,}" in printed
    assert "svd_shared" in printed


def test_read_only_frame_predicts_without_a_torch_warning(artifact) -> None:
    """Frames from the node are read-only views of message buffers; torch warns once per process
    for those, so this runs in a fresh interpreter, where the first such frame would warn."""
    import subprocess
    import sys

    _, path = artifact
    script = (
        "import sys, warnings, numpy as np\n"
        "from mtl_perception.runtime import load_engine\n"
        "engine = load_engine(sys.argv[1], device='cpu')\n"
        "rgb = np.random.default_rng(2).integers(0, 256, (32, 48, 3), dtype=np.uint8)\n"
        "frame = rgb.copy(); frame.flags.writeable = False\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    read_only = engine.predict(frame)\n"
        "assert not frame.flags.writeable\n"
        "writable = engine.predict(rgb)\n"
        "assert np.array_equal(read_only.segmentation, writable.segmentation)\n"
        "assert np.array_equal(read_only.depth, writable.depth)\n"
        "print(len(caught), *[str(w.message)[:80] for w in caught], sep='|')\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
