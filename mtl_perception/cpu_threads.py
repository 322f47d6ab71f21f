"""OpenMP defaults applied when the package is imported, before torch loads (shared CPUs need them).

OpenMP's default wait policy spins idle threads for a while after each parallel region. On a
small or shared CPU that spinning steals the cores the next region needs: a small training
run took 291 s with the default and 19 s with ``OMP_WAIT_POLICY=PASSIVE`` (identical losses).
libgomp reads the variable once, when torch is first imported, so this must run before that.
A value the user already set is kept. ONNX Runtime's thread pool is not OpenMP, but it spins
the same way; `idle_threads_spin` gives it the same policy, so one variable governs both.
"""
from __future__ import annotations

import os

DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}


def configure_openmp(environ: "os._Environ[str] | dict[str, str]" = os.environ) -> dict[str, str]:
    """Set DEFAULTS where unset in `environ`; returns the values now in force."""
    for key, value in DEFAULTS.items():
        environ.setdefault(key, value)
    return {key: environ[key] for key in DEFAULTS}


def idle_threads_spin(environ: "os._Environ[str] | dict[str, str]" = os.environ) -> bool:
    """Whether idle worker threads should spin-wait: only under OMP_WAIT_POLICY=ACTIVE."""
    return environ.get("OMP_WAIT_POLICY", "").strip().upper() == "ACTIVE"
