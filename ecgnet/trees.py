"""Gradient-boosted trees as plain arrays: saved without pickle, predicted with numpy alone.

A fitted binary scikit-learn ``HistGradientBoostingClassifier`` becomes a :class:`TreeEnsemble`: the
nodes of all its trees laid end to end in flat arrays, each tree's nodes in the order scikit-learn
numbers them (parents before children). Prediction walks every tree for every row at once and routes
values exactly as scikit-learn does on raw (unbinned) data:

* ``x <= threshold`` goes left, anything greater goes right (``+inf`` thresholds send every number left);
* NaN goes to the side scikit-learn learnt for missing values (``missing_left``).

Many named models share one safetensors file (:func:`save_trees`): for a model ``name`` the arrays are
``name/feature``, ``name/threshold``, ``name/missing_left``, ``name/left``, ``name/right``, ``name/value``
and ``name/roots``; the file's metadata holds ``format``, ``format_version`` and ``models``, a JSON object
mapping each name, in order, to its ``baseline`` and ``num_features``. :func:`load_trees` reads it with
safetensors only and checks everything a stranger could get wrong, so that a bad file fails with a
:class:`TreesError` saying what is wrong instead of looping forever, reading out of bounds or predicting garbage
(the caller, who knows where the file came from, names it).

:func:`from_sklearn` reads scikit-learn's private layout of a fitted model (``_predictors``,
``_baseline_prediction``; there is no public API for the fitted trees), so it accepts the scikit-learn versions
of :data:`SKLEARN_VERSIONS` only, the range requirements.txt and pyproject.toml state.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from .files import atomic_path
from .jsonvalues import as_float

TREES_FORMAT = "ecgnet-trees"
TREES_FORMAT_VERSION = 1
PROBABILITY_LIMIT = 1e-6  # constant models stay this far from 0 and 1: a finite logit, no certainty

#: The scikit-learn versions (major, minor) whose private layout of a fitted HistGradientBoostingClassifier
#: :func:`from_sklearn` reads: from the first, below the second (1.9 is the newest tested).
SKLEARN_VERSIONS = ((1, 3), (1, 10))
#: The same range as requirements.txt and pyproject.toml write it.
SKLEARN_REQUIREMENT = "scikit-learn>={}.{},<{}.{}".format(*SKLEARN_VERSIONS[0], *SKLEARN_VERSIONS[1])
_SKLEARN_PRIVATE = ("_predictors", "_baseline_prediction")


class TreesError(ValueError):
    """A trees file that cannot be read (its message says why, without the file's path: the caller adds it),
    or a scikit-learn version whose fitted trees :func:`from_sklearn` cannot read."""


# The per-node arrays and the dtype each must have, then the per-tree one.
_NODE_ARRAYS: dict[str, type] = {
    "feature": np.int32,
    "threshold": np.float64,
    "missing_left": np.bool_,
    "left": np.int32,
    "right": np.int32,
    "value": np.float64,
}
_ARRAYS: dict[str, type] = {**_NODE_ARRAYS, "roots": np.int32}


@dataclass(eq=False)  # arrays have no single truth value: compare fields explicitly
class TreeEnsemble:
    """One binary gradient-boosted model as flat arrays: raw score = baseline + sum of the leaf values reached.

    Node arrays have one entry per node of all trees together; ``left``/``right`` are absolute indices
    into them, always greater than the parent's (so every walk ends), and -1 on both for a leaf. ``feature``,
    ``threshold`` and ``missing_left`` matter on inner nodes only, ``value`` on leaves only. ``roots`` has
    one entry per tree. Construction checks all of this and raises ValueError with the reason. Treat the
    arrays as read-only afterwards: prediction keeps tables derived from them.
    """

    baseline: float
    feature: np.ndarray  # int32 (nodes,)
    threshold: np.ndarray  # float64 (nodes,)
    missing_left: np.ndarray  # bool (nodes,)
    left: np.ndarray  # int32 (nodes,)
    right: np.ndarray  # int32 (nodes,)
    value: np.ndarray  # float64 (nodes,)
    roots: np.ndarray  # int32 (trees,)
    num_features: int

    def __post_init__(self) -> None:
        _check_ensemble(self)

    @property
    def num_trees(self) -> int:
        return len(self.roots)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Raw scores (float64, (rows,)) of ``X`` (rows, num_features); NaN means missing."""
        X = self._check_input(X)
        raw = np.full(len(X), self.baseline, dtype=np.float64)
        if self.num_trees and len(X):
            raw += self.value[self._leaves(X)].sum(axis=1)
        return raw

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probability of the positive class (float64, (rows,)) for each row of ``X``."""
        return _sigmoid(self.decision_function(X))

    def _check_input(self, X: np.ndarray) -> np.ndarray:
        # float64 as scikit-learn compares: a float32 input must meet the thresholds the same way.
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.num_features:
            raise ValueError(f"expected an array of shape (rows, {self.num_features}), got {X.shape}")
        return X

    @cached_property
    def _walk(self) -> _WalkTables:
        return _WalkTables.of(self)

    def _leaves(self, X: np.ndarray) -> np.ndarray:
        """The leaf (rows, trees) each row reaches in each tree.

        Walks every (row, tree) position one level per step, and drops the positions that reached a leaf,
        so that a few deep branches do not keep the whole batch walking.
        """
        walk, trees = self._walk, self.num_trees
        leaves = np.tile(self.roots.astype(np.intp), len(X))  # row-major (rows, trees)
        position = np.flatnonzero(~walk.is_leaf[leaves])
        node = leaves[position]
        row_start = position // trees * self.num_features  # where the row starts in X flattened
        flat = X.reshape(-1)
        while len(position):
            x = flat[row_start + walk.feature[node]]
            go_right = (x > walk.threshold[node]) | (np.isnan(x) & walk.nan_right[node])
            node = walk.children[2 * node + go_right]
            done = walk.is_leaf[node]
            leaves[position[done]] = node[done]
            walking = ~done
            position, node, row_start = position[walking], node[walking], row_start[walking]
        return leaves.reshape(len(X), trees)


@dataclass
class _WalkTables:
    """A TreeEnsemble's nodes arranged for :meth:`TreeEnsemble._leaves`."""

    is_leaf: np.ndarray
    feature: np.ndarray  # intp: 0 on leaves, where it is not used
    threshold: np.ndarray
    nan_right: np.ndarray
    children: np.ndarray  # intp (2 * nodes,): left child at 2 * node, right child at 2 * node + 1

    @classmethod
    def of(cls, model: TreeEnsemble) -> _WalkTables:
        is_leaf = model.left < 0
        children = np.empty((len(is_leaf), 2), dtype=np.intp)
        children[:, 0], children[:, 1] = model.left, model.right
        return cls(
            is_leaf=is_leaf,
            feature=np.where(is_leaf, 0, model.feature).astype(np.intp),
            threshold=model.threshold,
            # x > threshold is False for NaN, so NaN goes left unless its node sends it right.
            nan_right=~model.missing_left,
            children=children.reshape(-1),
        )


def _sigmoid(raw: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only: no overflow for large scores of either sign.
    e = np.exp(-np.abs(raw))
    return np.where(raw >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _check_ensemble(model: TreeEnsemble) -> None:
    """Raise ValueError with a one-line reason unless ``model``'s arrays form valid trees."""
    _check_scalars(model)
    for name, dtype in _ARRAYS.items():
        array = getattr(model, name)
        if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != 1:
            raise ValueError(f"{name} must be a 1-D {np.dtype(dtype).name} array")
        if name in _NODE_ARRAYS and len(array) != len(model.feature):
            raise ValueError(f"{name} has {len(array)} entries, not one per node ({len(model.feature)})")
    _check_nodes(model)
    n = len(model.feature)
    if np.any((model.roots < 0) | (model.roots >= n)):
        raise ValueError(f"a root index is outside [0, {n})")


def _check_scalars(model: TreeEnsemble) -> None:
    baseline, num_features = model.baseline, model.num_features
    if isinstance(baseline, bool) or not isinstance(baseline, int | float | np.floating) or not _finite(baseline):
        shown = f"a number of {len(str(abs(baseline)))} digits" if isinstance(baseline, int) else repr(baseline)[:40]
        raise ValueError(f"baseline must be a finite number, not {shown}")
    if isinstance(num_features, bool) or not isinstance(num_features, int | np.integer) or num_features < 0:
        raise ValueError(f"num_features must be a non-negative integer, not {num_features!r}")


def _check_nodes(model: TreeEnsemble) -> None:
    """Children point forward within range (so walks end), and inner nodes split on real features."""
    n = len(model.feature)
    is_leaf = model.left == -1
    if np.any(is_leaf != (model.right == -1)):
        raise ValueError("a node has one child only (-1 on one side)")
    inner = np.flatnonzero(~is_leaf)
    for side in (model.left, model.right):
        child = side[inner]
        if np.any((child <= inner) | (child >= n)):
            raise ValueError(f"a child index is not after its parent or not below the node count {n}")
    feature = model.feature[inner]
    if np.any((feature < 0) | (feature >= model.num_features)):
        raise ValueError(f"a feature index is outside [0, {model.num_features})")
    if np.any(np.isnan(model.threshold[inner])):
        raise ValueError("an inner node has a NaN threshold")
    if not np.all(np.isfinite(model.value[is_leaf])):
        raise ValueError("a leaf value is not finite")


def _finite(value: float) -> bool:
    return math.isfinite(as_float(value))  # an integer of hundreds of digits from a stranger's metadata is not


def constant(probability: float, num_features: int) -> TreeEnsemble:
    """A model without trees giving ``probability`` (clipped to [1e-6, 1 - 1e-6]) for every row: for a class
    whose training labels are all equal, which scikit-learn refuses to fit."""
    p = float(np.clip(probability, PROBABILITY_LIMIT, 1.0 - PROBABILITY_LIMIT))
    return TreeEnsemble(
        baseline=math.log(p / (1.0 - p)) if math.isfinite(p) else p,  # NaN is refused by the check
        **{name: np.zeros(0, dtype=dtype) for name, dtype in _ARRAYS.items()},
        num_features=num_features,
    )


def from_sklearn(model: Any) -> TreeEnsemble:
    """The trees of a fitted binary ``HistGradientBoostingClassifier`` without categorical features.

    Raises ValueError for anything else (multiclass, categorical splits, an unfitted or other model), and
    :class:`TreesError` when the installed scikit-learn is outside :data:`SKLEARN_VERSIONS` or its fitted
    model lacks the private attributes read here.
    """
    _check_supported(model)
    parts: list[dict[str, np.ndarray]] = []
    roots: list[int] = []
    offset = 0
    for iteration in model._predictors:
        nodes = iteration[0].nodes
        parts.append(_tree_arrays(nodes, offset))
        roots.append(offset)  # scikit-learn puts each tree's root first
        offset += len(nodes)
    if offset >= np.iinfo(np.int32).max:
        raise ValueError(f"{offset} nodes do not fit int32 indices")
    arrays = {name: np.concatenate([p[name] for p in parts]).astype(dtype) for name, dtype in _NODE_ARRAYS.items()}
    return TreeEnsemble(
        baseline=float(np.asarray(model._baseline_prediction).item()),
        **arrays,
        roots=np.asarray(roots, dtype=np.int32),
        num_features=int(model.n_features_in_),
    )


def _check_supported(model: Any) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier  # only training needs scikit-learn
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not isinstance(model, HistGradientBoostingClassifier):
        raise ValueError(f"expected a HistGradientBoostingClassifier, got {type(model).__name__}")
    try:
        check_is_fitted(model)  # public: unlike the private attributes below, in every version
    except NotFittedError:
        raise ValueError("the model is not fitted") from None
    check_sklearn_version()
    missing = [name for name in _SKLEARN_PRIVATE if not hasattr(model, name)]
    if missing:
        raise TreesError(f"scikit-learn {_sklearn_version()}: a fitted HistGradientBoostingClassifier has no "
                         f"{missing[0]}, which ecgnet.trees reads; supported: {SKLEARN_REQUIREMENT}")
    if model.n_trees_per_iteration_ != 1 or len(model.classes_) != 2:
        raise ValueError(f"only binary models are supported, this one has {len(model.classes_)} classes")
    categorical = getattr(model, "is_categorical_", None)
    has_categorical_split = any(p.nodes["is_categorical"].any() for it in model._predictors for p in it)
    if (categorical is not None and np.any(categorical)) or has_categorical_split:
        raise ValueError("models with categorical features are not supported")


def _sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


def check_sklearn_version(version: str | None = None) -> None:
    """Raise TreesError unless scikit-learn ``version`` (default: the installed one) is in
    :data:`SKLEARN_VERSIONS`, whose private layout :func:`from_sklearn` reads."""
    version = _sklearn_version() if version is None else version
    match = re.match(r"(\d+)\.(\d+)", version)
    low, below = SKLEARN_VERSIONS
    if match is None or not low <= (int(match[1]), int(match[2])) < below:
        raise TreesError(f"scikit-learn {version} is not supported: ecgnet.trees reads the private layout of "
                         f"fitted HistGradientBoosting models of {SKLEARN_REQUIREMENT} only; install a version "
                         f"in that range")


def _tree_arrays(nodes: np.ndarray, offset: int) -> dict[str, np.ndarray]:
    """One scikit-learn tree's node records as our arrays, children shifted by ``offset``."""
    is_leaf = nodes["is_leaf"].astype(bool)
    return {
        "feature": np.where(is_leaf, -1, nodes["feature_idx"]),
        "threshold": np.where(is_leaf, 0.0, nodes["num_threshold"]),
        "missing_left": ~is_leaf & (nodes["missing_go_to_left"] != 0),
        "left": np.where(is_leaf, -1, nodes["left"].astype(np.int64) + offset),
        "right": np.where(is_leaf, -1, nodes["right"].astype(np.int64) + offset),
        "value": np.where(is_leaf, nodes["value"], 0.0),  # scikit-learn keeps inner nodes' values: unused
    }


def save_trees(path: str | os.PathLike, models: dict[str, TreeEnsemble]) -> None:
    """Write named models (e.g. ``"12leads/426783006"``) to one safetensors file, atomically."""
    if not models:
        raise ValueError("no models to save")
    tensors: dict[str, np.ndarray] = {}
    index: dict[str, dict[str, float | int]] = {}
    for name, model in models.items():
        if not isinstance(name, str) or not name or not isinstance(model, TreeEnsemble):
            raise ValueError(f"models must map non-empty names to TreeEnsembles, got {name!r}")
        for field in _ARRAYS:
            tensors[f"{name}/{field}"] = np.ascontiguousarray(getattr(model, field))
        index[name] = {"baseline": float(model.baseline), "num_features": int(model.num_features)}
    metadata = {"format": TREES_FORMAT, "format_version": str(TREES_FORMAT_VERSION), "models": json.dumps(index)}
    with atomic_path(path) as temporary:
        save_file(tensors, str(temporary), metadata=metadata)


def load_trees(path: str | os.PathLike) -> dict[str, TreeEnsemble]:
    """Read a file written by :func:`save_trees`; anything missing or wrong raises :class:`TreesError` with a
    one-line reason that does not name the file (the caller adds where it came from)."""
    path = Path(path)
    if not path.is_file():
        raise TreesError("trees file is missing")
    try:
        with safe_open(str(path), framework="numpy") as f:
            index = _read_index(f.metadata())
            _check_keys(set(f.keys()), index)
            arrays = {key: f.get_tensor(key) for key in f.keys()}
    except TreesError:
        raise
    except (SafetensorError, OSError, ValueError) as error:  # a truncated or garbled file
        raise TreesError(f"not a readable safetensors file ({error})") from None
    return {name: _build(name, baseline, features, arrays) for name, (baseline, features) in index.items()}


def _read_index(metadata: dict[str, str] | None) -> dict[str, tuple[Any, Any]]:
    """The models the metadata lists: name -> (baseline, num_features), checked later by TreeEnsemble."""
    metadata = metadata or {}
    if metadata.get("format") != TREES_FORMAT:
        raise TreesError("not an ecgnet trees file")
    version = metadata.get("format_version")
    if version != str(TREES_FORMAT_VERSION):
        raise TreesError(
            f"trees format version {version} cannot be read by this version "
            f"(which reads version {TREES_FORMAT_VERSION}); retrain or use the matching release"
        )
    try:
        models = json.loads(metadata.get("models", ""))
    except json.JSONDecodeError:
        models = None
    if not isinstance(models, dict) or not models:
        raise TreesError("metadata 'models' must be a non-empty JSON object")
    index = {}
    for name, entry in models.items():
        if not isinstance(entry, dict) or set(entry) != {"baseline", "num_features"}:
            raise TreesError(f"model {name!r} must list exactly baseline and num_features")
        index[name] = (entry["baseline"], entry["num_features"])
    return index


def _check_keys(keys: set[str], index: dict[str, Any]) -> None:
    expected = {f"{name}/{field}" for name in index for field in _ARRAYS}
    if missing := sorted(expected - keys):
        raise TreesError(f"array {missing[0]!r} is missing")
    if extra := sorted(keys - expected):
        raise TreesError(f"unexpected array {extra[0]!r}")


def _build(name: str, baseline: Any, num_features: Any, arrays: dict[str, np.ndarray]) -> TreeEnsemble:
    fields = {field: arrays[f"{name}/{field}"] for field in _ARRAYS}
    if fields["missing_left"].dtype == np.bool_:
        # A byte other than 0 or 1 in a bool array would confuse numpy's logic operators.
        fields["missing_left"] = fields["missing_left"].view(np.uint8) != 0
    try:
        return TreeEnsemble(baseline=baseline, **fields, num_features=num_features)
    except ValueError as error:
        raise TreesError(f"model {name!r}: {error}") from None
