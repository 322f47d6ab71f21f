"""Where the package's bundled default deploy artifact lives."""
from __future__ import annotations

from pathlib import Path

from .artifact import ArtifactError


def default_model_path() -> Path:
    """The artifact shipped inside the package (mtl_perception/models/default)."""
    path = Path(__file__).resolve().parents[1] / "models" / "default"
    if not (path / "model.json").is_file():
        raise ArtifactError(f"bundled default model not found at {path}; pass an artifact path explicitly")
    return path
