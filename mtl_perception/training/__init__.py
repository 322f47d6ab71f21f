"""Training tools: config, losses, weighting, alternating schedule, trainer, checkpoints, DDP, export.

Imports here stay light; CLI modules (train, export, evaluate, compare) import the heavy parts.
"""
from .config import ConfigError, TrainConfig, load_config
from .losses import task_losses
from .schedule import PhaseSchedule

__all__ = ["ConfigError", "PhaseSchedule", "TrainConfig", "load_config", "task_losses"]
