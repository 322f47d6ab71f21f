"""Which parameters step when: the alternating A/B phases of DESIGN §1, or one joint phase."""
from __future__ import annotations

from dataclasses import dataclass

from ..model import ALTERNATING_SCHEMES

JOINT, PHASE_A, PHASE_B = "joint", "A", "B"


@dataclass(frozen=True)
class PhaseSchedule:
    """Phase A for `phase_a` units, then phase B for `phase_b` units, repeating.

    A unit is an optimizer step or an epoch. Non-alternating schemes are always `joint`.
    The phase is a pure function of (step, epoch), so resuming needs no extra state.
    """

    alternating: bool
    unit: str = "steps"
    phase_a: int = 4
    phase_b: int = 1

    @classmethod
    def for_scheme(cls, scheme: str, *, unit: str, phase_a: int, phase_b: int) -> "PhaseSchedule":
        return cls(scheme in ALTERNATING_SCHEMES, unit, phase_a, phase_b)

    def phase(self, step: int, epoch: int) -> str:
        if not self.alternating:
            return JOINT
        counter = step if self.unit == "steps" else epoch
        return PHASE_A if counter % (self.phase_a + self.phase_b) < self.phase_a else PHASE_B

    @property
    def phases(self) -> tuple[str, ...]:
        return (PHASE_A, PHASE_B) if self.alternating else (JOINT,)
