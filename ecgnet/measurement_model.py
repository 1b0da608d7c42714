"""The measurement model beside the network: gradient-boosted trees on the measurements a cardiologist reads.

(The recipe's table for it keeps its first name, ``[feature_model]``, and model.json, out_of_fold.npz and the
summaries name its outputs ``features``: file formats do not change with a module's name.)

One binary scikit-learn HistGradientBoostingClassifier per class and per lead set, on the record's
measurements for that lead set (:mod:`ecgnet.measurements`, NaN where a value could not be measured: the
trees route missing values themselves) and its age and sex. It is trained on the network's folds, so that
its out-of-fold probabilities sit beside the network's for the stack (:mod:`ecgnet.stacking`), then once
more on every record for inference. The fitted trees are kept as plain arrays (:mod:`ecgnet.trees`):
inference needs numpy alone, and loading them never unpickles.

scikit-learn is imported only when fitting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .config import FeatureModelConfig
from .criteria import monotone_constraints
from .measurements import NUM_MEASUREMENTS
from .records import LeadSet
from .trees import TreeEnsemble, constant, from_sklearn

#: Fewer positives (or negatives) than this among a fit's records: the class gets a constant model, the
#: share of positives, instead of trees that would memorise a handful of records.
MIN_CLASS_RECORDS = 3
NUM_INPUTS = NUM_MEASUREMENTS + 2  # the measurements, age and sex: see feature_matrix


def feature_matrix(measurements: np.ndarray, demographics: np.ndarray) -> np.ndarray:
    """The trees' input: measurements (records, M) then age in years and sex (1 male, 0 female), NaN when
    unknown. ``demographics`` is :func:`ecgnet.signals.demographics` per record (records, 4)."""
    measurements = np.asarray(measurements, dtype=np.float64)
    demographics = np.asarray(demographics, dtype=np.float64).reshape(len(measurements), 4)
    age = np.where(demographics[:, 1] > 0, demographics[:, 0] * 100.0, np.nan)
    sex = np.where(demographics[:, 3] > 0, demographics[:, 2], np.nan)
    return np.column_stack([measurements, age, sex])


def model_key(lead_set: str, code: str) -> str:
    """The name of one class's model for one lead set in the trees file."""
    return f"{lead_set}/{code}"


def fit_class(features: np.ndarray, labels: np.ndarray, config: FeatureModelConfig, seed: int,
              code: str | None = None) -> TreeEnsemble:
    """One class's trees (binary ``labels``), or a constant model when there are too few of either label. With
    ``monotone_trees`` the trees of class ``code`` are monotone in the measurement of its criterion."""
    labels = np.asarray(labels, dtype=bool)
    positives = int(labels.sum())
    if min(positives, len(labels) - positives) < MIN_CLASS_RECORDS:
        return constant(positives / max(1, len(labels)), features.shape[1])
    from sklearn.ensemble import HistGradientBoostingClassifier

    # scikit-learn cannot bin a column with no value at all (a lead the lead set lacks): as a constant it is
    # never split on, so the NaN it holds at inference goes nowhere either.
    features = np.where(np.isnan(features).all(axis=0), 0.0, features)

    constraints = monotone_constraints(code, features.shape[1]) if config.monotone_trees and code else None
    model = HistGradientBoostingClassifier(
        max_iter=config.max_iter, learning_rate=config.learning_rate, max_leaf_nodes=config.max_leaf_nodes,
        min_samples_leaf=config.min_samples_leaf, l2_regularization=config.l2_regularization,
        monotonic_cst=constraints, early_stopping=False, random_state=seed)
    model.fit(features, labels)
    return from_sklearn(model)


def fit_classes(features: np.ndarray, labels: np.ndarray, config: FeatureModelConfig, seed: int,
                codes: list[str] | None = None) -> list[TreeEnsemble]:
    """One model per class (column of ``labels``; ``codes``, the classes' codes, for monotone trees)."""
    return [fit_class(features, labels[:, k], config, seed + k, codes[k] if codes else None)
            for k in range(labels.shape[1])]


def predict_classes(models: list[TreeEnsemble], features: np.ndarray) -> np.ndarray:
    """Probabilities (records, classes) of one model per class."""
    if len(features) == 0:
        return np.zeros((0, len(models)))
    return np.column_stack([model.predict_proba(features) for model in models])


def out_of_fold(features: np.ndarray, labels: np.ndarray, folds: np.ndarray, config: FeatureModelConfig,
                seed: int, codes: list[str] | None = None) -> np.ndarray:
    """Out-of-fold probabilities (records, classes): each fold predicted by models fitted on the others."""
    probabilities = np.zeros(labels.shape)
    for fold in range(int(folds.max()) + 1):
        held = folds == fold
        models = fit_classes(features[~held], labels[~held], config, seed + 1000 * fold, codes)
        probabilities[held] = predict_classes(models, features[held])
    return probabilities


def fit(measurements: Mapping[str, np.ndarray], demographics: np.ndarray, labels: np.ndarray, folds: np.ndarray,
        codes: list[str], config: FeatureModelConfig, seed: int = 0,
        log: Callable[[str], None] = print) -> tuple[dict[str, np.ndarray], dict[str, TreeEnsemble]]:
    """For each lead set of ``measurements`` (name -> (records, M)): out-of-fold probabilities on the folds,
    and the models fitted on every record (named by :func:`model_key`) that inference uses."""
    oof: dict[str, np.ndarray] = {}
    models: dict[str, TreeEnsemble] = {}
    for lead_set, values in measurements.items():
        features = feature_matrix(values, demographics)
        oof[lead_set] = out_of_fold(features, labels, folds, config, seed, codes)
        for code, model in zip(codes, fit_classes(features, labels, config, seed + 10_000, codes)):
            models[model_key(lead_set, code)] = model
        log(f"feature model {lead_set}: {features.shape[1]} inputs, {_trees(models, lead_set)} trees")
    return oof, models


def _trees(models: Mapping[str, TreeEnsemble], lead_set: str) -> int:
    return sum(len(m.roots) for name, m in models.items() if name.startswith(f"{lead_set}/"))


def lead_sets_of(models: Mapping[str, TreeEnsemble]) -> list[str]:
    """The lead sets that have models, in the order they were saved."""
    return list(dict.fromkeys(name.rsplit("/", 1)[0] for name in models))


def models_for(models: Mapping[str, TreeEnsemble], lead_set: LeadSet, codes: list[str]) -> list[TreeEnsemble]:
    """The model of each class (in ``codes`` order) that serves records of ``lead_set``: those of the trained
    lead set most like it."""
    chosen = lead_set.closest(lead_sets_of(models))
    return [models[model_key(chosen, code)] for code in codes]
