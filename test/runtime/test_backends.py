"""Every inference backend agrees with torch fp32; `auto` keeps the fastest that passes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mtl_perception.model import MultiTaskNet, NetConfig, collapse
from mtl_perception.runtime import Engine, load_artifact, save_artifact
from mtl_perception.model.network import ARCHITECTURES
from mtl_perception.runtime.backends import BackendUnavailable, candidate_backends, compare_outputs, make_backend, select_backend


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    torch.manual_seed(0)
    net = collapse(MultiTaskNet(NetConfig(num_classes=4, base_channels=(8, 16), task_layers=1)), fuse_bn=True).eval()
    path = tmp_path_factory.mktemp("art")
    return save_artifact(net, path, class_names="abcd", palette=[(i, i, i) for i in range(4)], input_size=(32, 48))


@pytest.mark.parametrize("name", [n for n in candidate_backends(torch.device("cpu"))])
def test_backend_matches_torch_fp32(artifact, name) -> None:
    model, meta = load_artifact(artifact)
    image = torch.randn(1, 3, 32, 48, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        reference = {k: v.clone() for k, v in make_backend("torch", model, torch.device("cpu"), (32, 48))(image).items()}
        outputs = make_backend(name, model, torch.device("cpu"), (32, 48))(image)
    # Independent check: the reference is the plain module on a contiguous fp32 input.
    with torch.no_grad():
        direct = model(image)
    assert all(torch.equal(direct[k], reference[k]) for k in direct)
    rel, agreement = compare_outputs(outputs, reference)
    assert rel <= 1e-3 and agreement >= 0.999


def test_auto_keeps_fastest_passing_backend(artifact) -> None:
    model, _ = load_artifact(artifact)
    backend, checks = select_backend(model, torch.device("cpu"), (32, 48), repeats=3)
    passing = [c for c in checks if c.passed]
    assert passing and {c.name for c in checks} == set(candidate_backends(torch.device("cpu")))
    assert backend.name == min(passing, key=lambda c: c.median_ms).name


def test_engine_with_auto_backend_predicts_like_torch(artifact) -> None:
    model, meta = load_artifact(artifact)
    auto = Engine(model, meta, device="cpu", backend="auto")
    plain = Engine(model, meta, device="cpu", backend="torch")
    rgb = np.random.default_rng(2).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    a, b = auto.predict(rgb), plain.predict(rgb)
    assert np.allclose(a.depth, b.depth, rtol=1e-3, atol=1e-4)
    assert (a.segmentation == b.segmentation).mean() >= 0.99


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_torchscript_traces_every_architecture(arch) -> None:
    """The trace keeps the eager graph: same outputs on a new input, at the traced size only."""
    torch.manual_seed(0)
    model = collapse(MultiTaskNet(NetConfig(num_classes=3, base_channels=(8, 16), task_layers=1, arch=arch)), fuse_bn=True).eval()
    backend = make_backend("torchscript", model, torch.device("cpu"), (24, 40))
    image = torch.randn(1, 3, 24, 40, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        eager, traced = model(image), backend(image)
    assert set(traced) == set(eager)
    for task in eager:
        torch.testing.assert_close(traced[task], eager[task], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"traced at \(24, 40\), got an input of \(32, 40\)"):
        backend(torch.randn(1, 3, 32, 40))


def test_untraceable_model_is_a_clear_backend_error(artifact, monkeypatch) -> None:
    model, _ = load_artifact(artifact)

    def refuse(*args, **kwargs):
        raise RuntimeError("tracer says no")

    monkeypatch.setattr(torch.jit, "trace", refuse)
    with pytest.raises(BackendUnavailable, match="cannot trace the model to TorchScript: RuntimeError: tracer says no"):
        make_backend("torchscript", model, torch.device("cpu"), (32, 48))


def test_trace_that_does_not_reproduce_the_model_is_refused(artifact, monkeypatch) -> None:
    """A trace records one path; one whose outputs differ from the eager model must not serve."""
    model, _ = load_artifact(artifact)
    real_trace = torch.jit.trace

    class Shifted(torch.nn.Module):
        def __init__(self, traced):
            super().__init__()
            self.traced = traced

        def forward(self, x):
            return {task: out + 1.0 for task, out in self.traced(x).items()}

    monkeypatch.setattr(torch.jit, "trace", lambda *args, **kwargs: Shifted(real_trace(*args, **kwargs)))
    with pytest.raises(BackendUnavailable, match="trace differs from the model"):
        make_backend("torchscript", model, torch.device("cpu"), (32, 48))


def test_backend_errors(artifact) -> None:
    model, meta = load_artifact(artifact)
    with pytest.raises(ValueError, match="backend must be"):
        Engine(model, meta, device="cpu", backend="tensorflow")
    with pytest.raises(ValueError, match="CUDA"):
        make_backend("torch_fp16", model, torch.device("cpu"), (32, 48))


@pytest.mark.parametrize(("policy", "spins"), [("PASSIVE", "0"), ("ACTIVE", "1"), ("passive", "0")])
def test_onnxruntime_pool_follows_the_openmp_wait_policy(artifact, monkeypatch, policy, spins) -> None:
    """ONNX Runtime's own pool spins like OpenMP's unless told not to; one variable governs both."""
    monkeypatch.setenv("OMP_WAIT_POLICY", policy)
    model, _ = load_artifact(artifact)
    backend = make_backend("onnxruntime", model, torch.device("cpu"), (32, 48))
    assert backend.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == spins
