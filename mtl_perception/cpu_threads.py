"""OpenMP defaults applied when the package is imported, before torch loads (shared CPUs need them).

OpenMP's default wait policy spins idle threads for a while after each parallel region. On a
small or shared CPU that spinning steals the cores the next region needs: a small training
run took 291 s with the default and 19 s with ``OMP_WAIT_POLICY=PASSIVE`` (identical losses).
libgomp reads the variable once, when torch is first imported, so this must run before that.
A value the user already set is kept.
"""
from __future__ import annotations

import os

DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}


def configure_openmp(environ: "os._Environ[str] | dict[str, str]" = os.environ) -> dict[str, str]:
    """Set DEFAULTS where unset in `environ`; returns the values now in force."""
    for key, value in DEFAULTS.items():
        environ.setdefault(key, value)
    return {key: environ[key] for key in DEFAULTS}
