"""The decision stage: the networks' probabilities -> final outputs and labels.

A :class:`Decision` is everything after the networks: the feature model's trees on the measurements, and per
lead set the stack (network and feature model -> final), the calibration (Platt scaling of the final
outputs) and the thresholds (final outputs -> labels, tuned for the Challenge metric). Each part is optional
but the thresholds: a model trained without the feature model has no trees and no stack, one trained without
calibration has none.

:meth:`Decision.fit` fits it on plain arrays (out-of-fold probabilities, measurements, demographics, labels,
folds), for training and for distillation alike. :meth:`Decision.for_lead_set` resolves, once, which tuned
lead set serves a record's leads, and gives what inference, explanation and reports apply to them.
:meth:`Decision.to_json` and :meth:`Decision.from_json` are its part of ``model.json``; they raise
:class:`DecisionError` without a path, which the model folder's reader adds. Nothing here imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import calibration, measurement_model, stacking
from .calibration import Calibration
from .config import RunConfig, TrainingConfig, short_repr
from .criteria import criteria_matrix
from .jsonvalues import as_float
from .labels import ClassTable
from .records import LeadSet, lead_set_name
from .stacking import Stack
from .thresholds import tune_thresholds
from .trees import TreeEnsemble

#: The outputs of a stacked model, by the names model.json and out_of_fold.npz give them: the final outputs,
#: the network's alone and the feature model's alone ("features": the trees on the measurements).
FINAL, NETWORK, MEASUREMENT_MODEL = "final", "network", "features"
COMPONENTS = (NETWORK, MEASUREMENT_MODEL)
STACKED_OUTPUTS = (FINAL, *COMPONENTS)
#: The trees' file in a model folder, named in model.json.
TREES_FILE = "trees.safetensors"


def out_of_fold_key(component: str, lead_set: str) -> str:
    """The name of an array of ``out_of_fold.npz``: the final outputs of a lead set under the lead set's name,
    each model's alone as ``"<component>:<lead set>"``."""
    return lead_set if component == FINAL else f"{component}:{lead_set}"


class DecisionError(ValueError):
    """A decision stage that cannot be used; the message names the entry, and the reader adds the file."""


@dataclass(frozen=True)
class KeptModels:
    """A feature model and stacks fitted before (a teacher's, for distillation), with the feature model's
    out-of-fold probabilities by lead set: :meth:`Decision.fit` keeps them instead of fitting its own. Without
    stacks (None) it keeps the feature model and fits the stacks anew (a variant of the stack alone)."""

    trees: dict[str, TreeEnsemble]
    stacks: dict[str, Stack] | None
    features: dict[str, np.ndarray]
    measurements: dict[str, np.ndarray] | None = None  # by lead set: for stacks that weigh the criteria


@dataclass(frozen=True)
class LeadSetDecision:
    """What serves the records of one lead set: each part of the decision for the tuned lead set most like it."""

    lead_set: LeadSet  # the records' own leads
    class_codes: list[str]
    thresholds: np.ndarray
    stack: Stack | None = None
    trees: list[TreeEnsemble] | None = None  # one per class, in class order
    calibration: Calibration | None = None
    component_thresholds: dict[str, np.ndarray] | None = None

    def combine(self, network: np.ndarray, measurements: np.ndarray | None = None,
                demographics: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Probabilities (records, classes) from the networks': ``final`` (through the stack and the calibration,
        where the model has them), and with a stack ``network`` and ``features`` alone."""
        if self.stack is None:
            out = {FINAL: network}
        else:
            features = measurement_model.predict_classes(self.trees, measurement_model.feature_matrix(measurements,
                                                                                               demographics))
            criteria = criteria_matrix(measurements, self.class_codes) if self.stack.weighs_criteria else None
            out = dict(zip(STACKED_OUTPUTS, (self.stack.combine(network, features, criteria), network, features)))
        if self.calibration is not None:
            out[FINAL] = self.calibration.apply(out[FINAL])
        return out

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """Labels from final probabilities: a class is positive at or above its threshold."""
        return probabilities >= self.thresholds

    def uncalibrate(self, probabilities: np.ndarray) -> np.ndarray:
        """Final probabilities as they were before the calibration (unchanged for a model without one)."""
        return probabilities if self.calibration is None else self.calibration.invert(probabilities)

    def thresholds_of(self, component: str = FINAL) -> np.ndarray:
        """The thresholds of the final outputs, or of one model alone (``network`` or ``features``) when stacked."""
        if component == FINAL or self.component_thresholds is None:
            return self.thresholds
        return self.component_thresholds[component]


@dataclass
class Decision:
    """The feature model's trees and, per lead set, the stack, the calibration and the thresholds."""

    class_codes: list[str]
    thresholds: dict[str, np.ndarray]
    trees: dict[str, TreeEnsemble] | None = None
    stacks: dict[str, Stack] | None = None
    component_thresholds: dict[str, dict[str, np.ndarray]] | None = None
    calibrations: dict[str, Calibration] | None = None
    # Each lead set's resolved view, made once (not copied by dataclasses.replace: a copy resolves anew).
    _views: dict[LeadSet, LeadSetDecision] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def stacked(self) -> bool:
        return self.stacks is not None

    def for_lead_set(self, leads: LeadSet | Sequence[str] | str) -> LeadSetDecision:
        """The decision for records with ``leads`` (a lead set, lead names or a lead set's name): each part that
        of the tuned lead set most like it (:meth:`ecgnet.records.LeadSet.closest`), resolved once."""
        lead_set = LeadSet.of(leads)
        if lead_set not in self._views:
            self._views[lead_set] = self._resolve(lead_set)
        return self._views[lead_set]

    def _resolve(self, lead_set: LeadSet) -> LeadSetDecision:
        def closest(entries: Mapping[str, Any] | None) -> Any:  # None for a part the model lacks
            return entries[lead_set.closest(list(entries))] if entries else None

        trees = measurement_model.models_for(self.trees, lead_set, self.class_codes) if self.stacked else None
        components = None if self.component_thresholds is None else {
            component: closest(values) for component, values in self.component_thresholds.items()}
        return LeadSetDecision(lead_set, self.class_codes, closest(self.thresholds), closest(self.stacks), trees,
                               closest(self.calibrations), components)

    @classmethod
    def fit(cls, network: Mapping[str, np.ndarray], labels: np.ndarray, folds: np.ndarray, table: ClassTable,
            config: RunConfig, measurements: Mapping[str, np.ndarray] | None = None,
            demographics: np.ndarray | None = None, kept: KeptModels | None = None,
            log: Callable[[str], None] = print) -> tuple[Decision, dict[str, dict[str, np.ndarray]]]:
        """The decision fitted on the networks' out-of-fold probabilities by lead set (records, classes).

        With ``measurements`` by lead set and ``demographics`` (records, 4), the feature model is fitted on
        ``folds``, then a stack per lead set whose own out-of-fold outputs are cross-fitted; with ``kept``,
        those models are kept and the stacks combine directly. The calibration is fitted when the recipe
        calibrates; the thresholds are tuned on the out-of-fold final outputs, and of each model alone when
        stacked. Returns the decision and the out-of-fold probabilities it saw, by :data:`STACKED_OUTPUTS`
        (``final`` only, or also each model's alone)."""
        outputs = {NETWORK: dict(network)}
        trees = stacks = None
        final = outputs[NETWORK]
        if kept is not None and kept.stacks is None:
            trees, outputs[MEASUREMENT_MODEL] = kept.trees, kept.features
            stacks, final = _fit_stacks(network, kept.features, kept.measurements, labels, folds, table, config)
        elif kept is not None:
            trees, stacks, outputs[MEASUREMENT_MODEL] = kept.trees, kept.stacks, kept.features
            final = {name: stacks[name].combine(p, kept.features[name], _criteria(kept.measurements, name, table))
                     for name, p in network.items()}
        elif measurements is not None:
            trees, stacks, final, outputs[MEASUREMENT_MODEL] = _fit_second_stage(
                network, measurements, demographics, labels, folds, table, config, log)
        calibrations = None
        if config.training.calibrate:
            calibrations = {name: calibration.fit(labels, p) for name, p in final.items()}
            final = {name: calibrations[name].apply(p) for name, p in final.items()}
        tuned = {component: tune_all(labels, p, table, config.training) for component, p in outputs.items()}
        thresholds = tuned[NETWORK] if final is outputs[NETWORK] else tune_all(labels, final, table, config.training)
        decision = cls(list(table.codes), thresholds, trees, stacks, tuned if stacks is not None else None,
                       calibrations)
        return decision, {FINAL: final, **(outputs if stacks is not None else {})}

    def to_json(self) -> dict[str, Any]:
        """The decision's entries of ``model.json`` (its trees are saved apart, to :data:`TREES_FILE`)."""
        entries: dict[str, Any] = {"thresholds": _numbers(self.thresholds)}
        if self.stacked:
            entries["trees_file"] = TREES_FILE
            entries["stacks"] = {name: stack.to_json() for name, stack in self.stacks.items()}
            entries["component_thresholds"] = {name: _numbers(values)
                                               for name, values in (self.component_thresholds or {}).items()}
        if self.calibrations is not None:
            entries["calibration"] = {name: value.to_json() for name, value in self.calibrations.items()}
        return entries

    @classmethod
    def from_json(cls, entries: Mapping[str, Any], class_codes: list[str]) -> Decision:
        """The decision of a ``model.json`` (its trees to be added by :meth:`with_trees` when it is stacked);
        DecisionError naming the entry unless every part fits the classes."""
        _check_thresholds(entries.get("thresholds", {}), class_codes, "thresholds")
        decision = cls(list(class_codes), _arrays(entries["thresholds"]))
        if "stacks" in entries:
            _check_stack_entries(entries, class_codes)
            decision.stacks = _read_each(entries["stacks"], "stack", Stack.from_json, len(class_codes))
            decision.component_thresholds = {name: _arrays(values)
                                             for name, values in entries["component_thresholds"].items()}
        if "calibration" in entries:
            decision.calibrations = _read_each(entries["calibration"], "calibration", Calibration.from_json,
                                               len(class_codes))
        return decision

    def with_trees(self, trees: dict[str, TreeEnsemble]) -> Decision:
        """This decision with its feature model's trees; DecisionError unless every lead set with a stack has a
        model per class, each taking as many inputs as the measurements give."""
        inputs = measurement_model.NUM_INPUTS
        for lead_set in self.stacks or {}:
            for code in self.class_codes:
                model = trees.get(measurement_model.model_key(lead_set, code))
                if model is None:
                    raise DecisionError(f"no model for class {code} and leads {lead_set}")
                if model.num_features != inputs:
                    raise DecisionError(f"the model for class {code} and leads {lead_set} takes "
                                        f"{model.num_features} inputs, not {inputs}")
        self.trees, self._views = trees, {}
        return self


def _fit_second_stage(network: Mapping[str, np.ndarray], measurements: Mapping[str, np.ndarray],
                      demographics: np.ndarray, labels: np.ndarray, folds: np.ndarray, table: ClassTable,
                      config: RunConfig, log: Callable[[str], None]) -> tuple:
    """(trees, stacks, the stacks' cross-fitted out-of-fold outputs, the feature model's out-of-fold outputs):
    the feature model fitted on the network's folds, then a stack per lead set on both models' outputs."""
    settings = config.feature_model
    features, trees = measurement_model.fit(measurements, demographics, labels, folds, table.codes, settings,
                                        config.training.seed, log)
    stacks, final = _fit_stacks(network, features, measurements, labels, folds, table, config)
    return trees, stacks, final, features


def _fit_stacks(network: Mapping[str, np.ndarray], features: Mapping[str, np.ndarray],
                measurements: Mapping[str, np.ndarray] | None, labels: np.ndarray, folds: np.ndarray,
                table: ClassTable, config: RunConfig) -> tuple[dict[str, Stack], dict[str, np.ndarray]]:
    """(a stack per lead set, the stacks' cross-fitted out-of-fold outputs) on both models' outputs, and with
    ``criteria`` on the classes' measured criteria."""
    settings = config.feature_model
    if settings.criteria and measurements is None:
        raise ValueError("the stack weighs the classes' criteria: it needs the records' measurements")
    stacks, final = {}, {}
    for name, probabilities in network.items():
        criteria = _criteria(measurements, name, table) if settings.criteria else None
        stacks[name] = stacking.fit(probabilities, features[name], labels, settings.stack,
                                    settings.stack_regularization, criteria)
        final[name] = stacking.cross_fitted(probabilities, features[name], labels, folds, settings.stack,
                                            settings.stack_regularization, criteria)
    return stacks, final


def _criteria(measurements: Mapping[str, np.ndarray] | None, lead_set: str, table: ClassTable) -> np.ndarray | None:
    """The classes' criteria (records, classes) of a lead set's measurements; None without measurements."""
    return None if measurements is None else criteria_matrix(measurements[lead_set], table.codes)


def tune_all(labels: np.ndarray, probabilities: Mapping[str, np.ndarray], table: ClassTable,
             settings: TrainingConfig) -> dict[str, np.ndarray]:
    """Thresholds per lead set, tuned on its out-of-fold probabilities."""
    return {name: tune_thresholds(labels, p, table.weights, table.sinus_rhythm_index, settings.threshold_method,
                                  settings.seed) for name, p in probabilities.items()}


def _numbers(thresholds: Mapping[str, np.ndarray]) -> dict[str, list[float]]:
    return {name: [float(x) for x in values] for name, values in thresholds.items()}


def _arrays(thresholds: Mapping[str, list[float]]) -> dict[str, np.ndarray]:
    return {name: np.asarray(values, dtype=np.float64) for name, values in thresholds.items()}


def _read_each(entries: Any, what: str, read: Callable[[Any, int, str], Any], classes: int) -> dict[str, Any]:
    """A stack or a calibration per lead set, each read by ``read`` (which checks its numbers)."""
    if not isinstance(entries, dict) or not entries:
        raise DecisionError(f"{what} must map at least one lead set to a {what}")
    for name in entries:
        _check_lead_set(name, what)
    try:
        return {name: read(data, classes, f"{what} for {name}") for name, data in entries.items()}
    except ValueError as error:
        raise DecisionError(str(error)) from None


def _check_stack_entries(entries: Mapping[str, Any], codes: list[str]) -> None:
    """The stack's entries of model.json: its trees file, a stack per lead set, each model's thresholds."""
    if entries.get("trees_file") != TREES_FILE:
        raise DecisionError(f"trees_file must be {TREES_FILE!r}")
    if not isinstance(entries["stacks"], dict) or not entries["stacks"]:
        raise DecisionError("stacks must map at least one lead set to a stack")
    components = entries.get("component_thresholds")
    if not isinstance(components, dict) or set(components) != set(COMPONENTS):
        raise DecisionError(f"component_thresholds must have thresholds for {NETWORK!r} and {MEASUREMENT_MODEL!r}")
    for name, values in components.items():
        _check_thresholds(values, codes, f"component_thresholds {name}")
    for name in entries["stacks"]:
        _check_lead_set(name, "stacks")


def _check_thresholds(thresholds: Any, codes: list[str], what: str) -> None:
    """Per lead set, one threshold in [0, 1] per class: below 0 every record would be positive, above 1 none."""
    if not isinstance(thresholds, dict) or not thresholds:
        raise DecisionError(f"{what} must map at least one lead set to a list of numbers")
    for name, values in thresholds.items():
        _check_lead_set(name, what)
        if not isinstance(values, list) or any(isinstance(v, bool) or not isinstance(v, int | float)
                                               for v in values):
            raise DecisionError(f"{what} for {name} must be a list of numbers")
        if len(values) != len(codes):
            raise DecisionError(f"{what} for {name} have {len(values)} values, not {len(codes)}")
        for code, value in zip(codes, values):
            if not math.isfinite(as_float(value)):
                raise DecisionError(f"{what} for {name} hold values that are not finite: class {code} has "
                                    f"{short_repr(value)}")
            if not 0 <= value <= 1:
                raise DecisionError(f"{what} for {name} hold values outside [0, 1]: class {code} has "
                                    f"{short_repr(value)}")


def _check_lead_set(name: Any, what: str) -> None:
    """A key of a per-lead-set entry must be a lead set as records.lead_set_name writes it: any other would never
    be matched, and records would get the entry of another lead set."""
    if not isinstance(name, str) or not name or lead_set_name(name.split(",")) != name:
        raise DecisionError(f"{what}: {short_repr(name)} is not a lead set (standard leads in standard order "
                            "joined by commas, such as 'I,II')")
