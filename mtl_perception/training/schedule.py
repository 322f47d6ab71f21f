"""Which parameters step when: the alternating A/B phases of DESIGN §1, or one joint phase."""
from __future__ import annotations

from dataclasses import dataclass

from ..model import ALTERNATING_SCHEMES

JOINT, PHASE_A, PHASE_B = "joint", "A", "B"


@dataclass(frozen=True)
class PhaseSchedule:
    """Which phases each batch steps.

    blocks: phase A for `phase_a` units, then phase B for `phase_b` units, repeating; a unit
    is a batch or an epoch. interleaved: every batch steps A, then B. Non-alternating schemes
    are always `joint`. The phases are a pure function of (batch, epoch), so resuming needs
    no extra state.
    """

    alternating: bool
    unit: str = "steps"
    phase_a: int = 4
    phase_b: int = 1
    mode: str = "blocks"

    @classmethod
    def for_scheme(cls, scheme: str, *, unit: str, phase_a: int, phase_b: int, mode: str = "blocks") -> "PhaseSchedule":
        return cls(scheme in ALTERNATING_SCHEMES, unit, phase_a, phase_b, mode)

    def phases_for(self, batch: int, epoch: int) -> tuple[str, ...]:
        """The phases to step, in order, on batch number `batch` (counted from the run's start)."""
        if not self.alternating:
            return (JOINT,)
        if self.mode == "interleaved":
            return (PHASE_A, PHASE_B)
        counter = batch if self.unit == "steps" else epoch
        return (PHASE_A,) if counter % (self.phase_a + self.phase_b) < self.phase_a else (PHASE_B,)

    @property
    def phases(self) -> tuple[str, ...]:
        return (PHASE_A, PHASE_B) if self.alternating else (JOINT,)
