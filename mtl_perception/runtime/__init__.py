"""Deploy-time runtime: artifact I/O and the inference engine (torch, numpy only)."""
from .artifact import ArtifactError, ArtifactMeta, load_artifact, read_meta, save_artifact
from .backends import BACKEND_NAMES, BackendCheck, select_backend
from .bundled import default_model_path
from .device import resolve_device
from .engine import Engine, InputError, Prediction, load_engine, validate_rgb

__all__ = [
    "BACKEND_NAMES",
    "BackendCheck",
    "select_backend",
    "ArtifactError",
    "ArtifactMeta",
    "Engine",
    "InputError",
    "Prediction",
    "default_model_path",
    "load_artifact",
    "load_engine",
    "read_meta",
    "resolve_device",
    "save_artifact",
    "validate_rgb",
]
