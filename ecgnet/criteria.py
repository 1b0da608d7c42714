"""The measured criteria of the classes that a clinical definition fixes, as learnt inputs.

Some classes are defined by a measurement and a cut-off: left axis deviation is a frontal QRS axis below
-30 degrees, first-degree AV block a PR interval above 200 ms, sinus bradycardia a sinus rate below 60 per
minute. The feature model's trees see these measurements among hundreds of others, and on a thousand records
they do not always find them. So each such class gets one more input, its **criterion**: how far the record's
measurement lies past the class's cut-off, in units of a clinically small step (15 degrees of axis, 20 ms of
PR), clipped to +-:data:`LIMIT`, positive on the side the definition names. It is an input, not a rule:

* the stack (:mod:`ecgnet.stacking`) weighs it beside the two models' logits, learnt per class and lead set,
  and never against the definition (a negative weight is refitted as 0);
* the feature model's trees may be made monotone in the class's measurement (``monotone_trees``).

A value that could not be measured is 0, "at the cut-off": no evidence either way. Which measurement serves
which class is :data:`CRITERIA`; classes without a definition by measurement get 0 everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .measurements import MEASUREMENT_NAMES

#: Criteria are clipped to this many steps either side of the cut-off: a rate of 30 per minute is not more
#: of a bradycardia for the stack than one of 45.
LIMIT = 3.0


@dataclass(frozen=True)
class Criterion:
    """``(value - cut_off) / step``: positive past the cut-off on the definition's side (``step`` < 0 for a
    definition by a value below its cut-off)."""

    measurement: str
    cut_off: float
    step: float

    @property
    def direction(self) -> int:
        """+1 when larger values meet the definition, -1 when smaller ones do."""
        return 1 if self.step > 0 else -1


#: By SNOMED code (a class's first code in the weights table), with the definitions' usual cut-offs.
CRITERIA: dict[str, Criterion] = {
    "39732003": Criterion("qrs_axis", -30.0, -15.0),  # LAD: axis below -30 degrees
    "47665007": Criterion("qrs_axis", 90.0, 15.0),  # RAD: axis above 90 degrees
    "270492004": Criterion("pr_interval", 200.0, 20.0),  # IAVB: PR above 200 ms
    "426627000": Criterion("heart_rate_mean", 60.0, -5.0),  # Brady: rate below 60 per minute
    "426177001": Criterion("heart_rate_mean", 60.0, -5.0),  # SB: sinus rate below 60
    "427084000": Criterion("heart_rate_mean", 100.0, 5.0),  # STach: sinus rate above 100
    "111975006": Criterion("qtc_bazett", 460.0, 20.0),  # LQT: QTc above 460 ms
    "251146004": Criterion("limb_qrs_max_pp", 0.5, -0.1),  # LQRSV: every limb lead's QRS below 0.5 mV
    "427393009": Criterion("rr_variation", 0.10, 0.03),  # SA: RR varying by more than some 10 %
    "284470004": Criterion("premature_fraction", 0.05, 0.05),  # PAC: premature beats
    "427172004": Criterion("ectopic_fraction", 0.05, 0.05),  # PVC: beats of another QRS shape
    "698252002": Criterion("qrs_duration", 110.0, 10.0),  # NSIVCB: QRS above 110 ms
}
_COLUMN = {name: i for i, name in enumerate(MEASUREMENT_NAMES)}


def criterion_of(code: str) -> Criterion | None:
    """The class's criterion, None for a class not defined by a measurement."""
    return CRITERIA.get(code)


def criteria_matrix(measurements: np.ndarray, class_codes: Sequence[str]) -> np.ndarray:
    """Criteria (records, classes) from measurements (records, M) in :data:`MEASUREMENT_NAMES` order: each
    class's distance past its cut-off in steps, clipped to +-LIMIT; 0 where unmeasured or undefined."""
    measurements = np.asarray(measurements, dtype=np.float64)
    out = np.zeros((len(measurements), len(class_codes)))
    for k, code in enumerate(class_codes):
        criterion = CRITERIA.get(code)
        if criterion is not None:
            values = (measurements[:, _COLUMN[criterion.measurement]] - criterion.cut_off) / criterion.step
            out[:, k] = np.clip(np.nan_to_num(values, nan=0.0), -LIMIT, LIMIT)
    return out


def monotone_constraints(code: str, num_inputs: int) -> np.ndarray | None:
    """scikit-learn's ``monotonic_cst`` for the class's trees over the feature matrix (measurements first):
    increasing or decreasing in the class's measurement, free in every other input; None without one."""
    criterion = CRITERIA.get(code)
    if criterion is None:
        return None
    constraints = np.zeros(num_inputs, dtype=int)
    constraints[_COLUMN[criterion.measurement]] = criterion.direction
    return constraints
