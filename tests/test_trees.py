"""Gradient-boosted trees as plain arrays: same predictions as scikit-learn, saved and loaded without pickle,
clear errors for damaged files, and only the scikit-learn versions whose private layout is read (ecgnet.trees)."""

from __future__ import annotations

import copy
import json
import pickle
import re
import tomllib
from collections.abc import Callable
from importlib.metadata import version

import numpy as np
import pytest
import sklearn
from conftest import REPO
from safetensors import safe_open
from safetensors.numpy import save_file
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from ecgnet import trees
from ecgnet.trees import TreeEnsemble, TreesError, constant, from_sklearn, load_trees, save_trees

NUM_FEATURES = 5
SETTINGS = {
    "31_leaves": dict(max_leaf_nodes=31, max_iter=40, early_stopping=False),
    "depth_3": dict(max_leaf_nodes=None, max_depth=3, max_iter=30, early_stopping=False),
    "early_stopping": dict(early_stopping=True, n_iter_no_change=3, validation_fraction=0.25, max_iter=300),
    "one_iteration": dict(max_iter=1),
    # scikit-learn 1.9.1 cannot fit a column that is all NaN (its binning fails): nearly all NaN is the limit,
    # and gives splits of NaN against every number (threshold +inf).
    "almost_all_nan_feature": dict(max_iter=20, early_stopping=False),
    "weighted_fast": dict(learning_rate=0.5, l2_regularization=1.0, class_weight="balanced", max_iter=20),
    "no_split": dict(min_samples_leaf=1000, max_iter=3, early_stopping=False),  # every tree is one leaf
}


def _data(seed: int, rows: int, almost_all_nan_feature: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Features with NaN sprinkled in (and a column of few distinct values, so that ties are common)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, NUM_FEATURES))
    X[:, 3] = rng.integers(0, 4, rows)
    score = X[:, 0] + X[:, 1] * X[:, 2] - 0.5 * X[:, 3] + rng.normal(scale=0.5, size=rows)
    X[rng.random(X.shape) < 0.15] = np.nan
    if almost_all_nan_feature:  # one value in 40 rows, which it makes positive; NaN elsewhere
        X[:, 4] = np.where(np.arange(rows) < 40, 1.0, np.nan)
        score[:40] = 1.0
    return X, np.where(score > 0, "yes", "no")


def _probe_rows(ensemble: TreeEnsemble, seed: int) -> np.ndarray:
    """Random rows with NaN and infinities, plus rows with a value exactly at (and next to) each threshold."""
    X, _ = _data(seed, 150)
    X[::17, 0] = np.inf
    X[::19, 2] = -np.inf
    inner = np.flatnonzero(ensemble.left >= 0)
    probes = []
    for node in inner:
        for value in np.nextafter(ensemble.threshold[node], [-np.inf, ensemble.threshold[node], np.inf]):
            row = X[len(probes) % len(X)].copy()
            row[ensemble.feature[node]] = value
            probes.append(row)
    return np.vstack([X, *probes]) if probes else X


@pytest.fixture(scope="module", params=list(SETTINGS))
def fitted(request) -> tuple[str, HistGradientBoostingClassifier]:
    X, y = _data(0, 400, almost_all_nan_feature=request.param == "almost_all_nan_feature")
    return request.param, HistGradientBoostingClassifier(random_state=0, **SETTINGS[request.param]).fit(X, y)


def test_predictions_equal_sklearn(fitted):
    name, model = fitted
    ensemble = from_sklearn(model)
    assert ensemble.num_trees == model.n_iter_
    if name == "one_iteration":
        assert model.n_iter_ == 1
    if name == "almost_all_nan_feature":
        assert np.isposinf(ensemble.threshold[ensemble.feature == 4]).any()
    if name == "no_split":
        assert np.all(ensemble.left[ensemble.roots] == -1)
    X = _probe_rows(ensemble, seed=1)
    np.testing.assert_allclose(ensemble.decision_function(X), model.decision_function(X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ensemble.predict_proba(X), model.predict_proba(X)[:, 1], rtol=0, atol=1e-12)


def test_threshold_ties_and_float32_route_as_sklearn():
    X, y = _data(2, 300)
    model = HistGradientBoostingClassifier(max_iter=30, early_stopping=False).fit(X, y)
    ensemble = from_sklearn(model)
    # Column 3 holds integers: with its thresholds between them, probe every integer and the exact thresholds.
    probe = np.tile(X[:40], (6, 1))
    probe[:, 3] = np.repeat([0, 1, 2, 3, np.nan, 1.5], 40)
    np.testing.assert_allclose(ensemble.predict_proba(probe), model.predict_proba(probe)[:, 1], rtol=0, atol=1e-12)
    X32 = _probe_rows(ensemble, seed=3).astype(np.float32)
    np.testing.assert_allclose(ensemble.predict_proba(X32), model.predict_proba(X32)[:, 1], rtol=0, atol=1e-12)


def _tiny() -> TreeEnsemble:
    """Two trees on 2 features: x1 <= 0.5 (NaN left) gives -1 else 2; then a lone leaf of 0.25."""
    return TreeEnsemble(
        baseline=0.5,
        feature=np.array([1, -1, -1, -1], dtype=np.int32),
        threshold=np.array([0.5, 0, 0, 0], dtype=np.float64),
        missing_left=np.array([True, False, False, False]),
        left=np.array([1, -1, -1, -1], dtype=np.int32),
        right=np.array([2, -1, -1, -1], dtype=np.int32),
        value=np.array([0, -1, 2, 0.25], dtype=np.float64),
        roots=np.array([0, 3], dtype=np.int32),
        num_features=2,
    )


def test_hand_made_trees_route_equal_values_and_nan_left():
    X = np.array([[9, 0.5], [9, np.nan], [9, 0.6], [9, np.inf], [9, -np.inf]])
    np.testing.assert_array_equal(_tiny().decision_function(X), 0.75 + np.array([-1, -1, 2, 2, -1]))
    assert _tiny().decision_function(np.zeros((0, 2))).shape == (0,)
    with pytest.raises(ValueError, match="shape"):
        _tiny().decision_function(np.zeros((3, 3)))


def test_probabilities_do_not_overflow():
    big = _tiny()
    big.baseline = 1000.0
    assert big.predict_proba(np.zeros((1, 2)))[0] == 1.0
    big.baseline = -1000.0
    assert big.predict_proba(np.zeros((1, 2)))[0] == 0.0


def test_constant_gives_its_probability_clipped():
    X = np.random.default_rng(4).normal(size=(7, 3))
    np.testing.assert_allclose(constant(0.3, 3).predict_proba(X), 0.3, rtol=1e-12)
    np.testing.assert_allclose(constant(0.0, 3).predict_proba(X), 1e-6, rtol=1e-9)
    np.testing.assert_allclose(constant(1.0, 3).predict_proba(X), 1 - 1e-6, rtol=1e-12)
    assert constant(0.3, 3).num_trees == 0
    with pytest.raises(ValueError, match="baseline"):
        constant(float("nan"), 3)


def test_unsupported_models_are_refused():
    rng = np.random.default_rng(5)
    X = rng.integers(0, 4, size=(200, 3)).astype(float)
    y = (X[:, 0] == 2).astype(int)
    categorical = HistGradientBoostingClassifier(categorical_features=[0], max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="categorical"):
        from_sklearn(categorical)
    multiclass = HistGradientBoostingClassifier(max_iter=5).fit(X, X[:, 1].astype(int))
    with pytest.raises(ValueError, match="binary"):
        from_sklearn(multiclass)
    with pytest.raises(ValueError, match="not fitted"):
        from_sklearn(HistGradientBoostingClassifier())
    with pytest.raises(ValueError, match="HistGradientBoostingClassifier"):
        from_sklearn(HistGradientBoostingRegressor(max_iter=3).fit(X, y))


def test_the_scikit_learn_bound_is_the_same_in_requirements_pyproject_and_trees():
    assert trees.SKLEARN_REQUIREMENT == "scikit-learn>=1.3,<1.10"  # SKLEARN_VERSIONS written out
    required = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()
                if re.match(r"scikit-learn\b", line)]
    declared = [entry for entry in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
                if re.match(r"scikit-learn\b", entry)]
    assert required == declared == [trees.SKLEARN_REQUIREMENT]


def test_the_installed_scikit_learn_is_supported():
    low, below = trees.SKLEARN_VERSIONS
    assert low <= tuple(int(part) for part in version("scikit-learn").split(".")[:2]) < below
    trees.check_sklearn_version()
    for supported in ("1.3.0", "1.3", "1.9.1", "1.9.99", "1.5.dev0"):
        trees.check_sklearn_version(supported)


@pytest.mark.parametrize("unsupported", ["1.10.0", "1.10.dev0", "1.2.2", "0.24.2", "2.0.0", "nightly"])
def test_an_unsupported_scikit_learn_is_one_clear_error(monkeypatch, unsupported):
    X, y = _data(8, 200)
    model = HistGradientBoostingClassifier(max_iter=3).fit(X, y)
    monkeypatch.setattr(sklearn, "__version__", unsupported)
    with pytest.raises(TreesError) as error:
        from_sklearn(model)
    message = str(error.value)
    assert f"scikit-learn {unsupported} " in message and "scikit-learn>=1.3,<1.10" in message and "\n" not in message


@pytest.mark.parametrize("attribute", ["_predictors", "_baseline_prediction"])
def test_a_fitted_model_without_the_private_attributes_is_one_clear_error(attribute):
    X, y = _data(9, 200)
    model = copy.deepcopy(HistGradientBoostingClassifier(max_iter=3).fit(X, y))
    delattr(model, attribute)
    with pytest.raises(TreesError) as error:
        from_sklearn(model)
    message = str(error.value)
    assert f"scikit-learn {sklearn.__version__}" in message and attribute in message and "\n" not in message
    assert trees.SKLEARN_REQUIREMENT in message


@pytest.fixture(scope="module")
def saved_models() -> dict[str, TreeEnsemble]:
    X, y = _data(6, 300)
    first = HistGradientBoostingClassifier(max_iter=25, early_stopping=False).fit(X, y)
    second = HistGradientBoostingClassifier(max_depth=2, max_iter=10).fit(X[:, ::-1], y)
    return {
        "12leads/426783006": from_sklearn(first),
        "12leads/164889003": constant(0.2, NUM_FEATURES),
        "2leads/426783006": from_sklearn(second),
    }


def _refuse_pickle(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("loading must not unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(np, "load", refuse)


def test_round_trip_without_pickle(tmp_path, saved_models, monkeypatch):
    path = tmp_path / "trees.safetensors"
    save_trees(path, saved_models)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    _refuse_pickle(monkeypatch)
    loaded = load_trees(path)
    assert list(loaded) == list(saved_models)
    X = _probe_rows(saved_models["12leads/426783006"], seed=7)
    for name, model in saved_models.items():
        assert loaded[name].baseline == model.baseline and loaded[name].num_features == model.num_features
        for field in ("feature", "threshold", "missing_left", "left", "right", "value", "roots"):
            np.testing.assert_array_equal(getattr(loaded[name], field), getattr(model, field))
        np.testing.assert_array_equal(loaded[name].predict_proba(X), model.predict_proba(X))


def test_failed_save_keeps_the_old_file(tmp_path, saved_models, monkeypatch):
    path = tmp_path / "trees.safetensors"
    save_trees(path, saved_models)
    before = path.read_bytes()

    def half_write(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(trees, "save_file", half_write)
    with pytest.raises(OSError, match="disk full"):
        save_trees(path, {"a": constant(0.5, 1)})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    with pytest.raises(ValueError):
        save_trees(path, {})


def _read_raw(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    with safe_open(str(path), framework="numpy") as f:
        return {k: np.array(f.get_tensor(k)) for k in f.keys()}, dict(f.metadata())


def _set_index(metadata: dict[str, str], **entry) -> None:
    metadata["models"] = json.dumps({"m": {"baseline": 0.5, "num_features": 2, **entry}})


# Each damages a file holding _tiny() as "m" (4 nodes: an inner root 0, leaves 1-3, roots [0, 3]),
# with the words the error must contain.
CORRUPTIONS: dict[str, tuple[str, Callable[[dict, dict], None]]] = {
    "child_to_itself": ("child index", lambda t, m: t["m/left"].__setitem__(0, 0)),
    "child_backwards": ("child index", lambda t, m: (t["m/left"].__setitem__(2, 0), t["m/right"].__setitem__(2, 1))),
    "child_out_of_range": ("child index", lambda t, m: t["m/right"].__setitem__(0, 4)),
    "one_child": ("one child", lambda t, m: t["m/right"].__setitem__(0, -1)),
    "nan_threshold": ("NaN threshold", lambda t, m: t["m/threshold"].__setitem__(0, np.nan)),
    "feature_out_of_range": ("feature index", lambda t, m: t["m/feature"].__setitem__(0, 2)),
    "negative_feature": ("feature index", lambda t, m: t["m/feature"].__setitem__(0, -1)),
    "infinite_leaf": ("leaf value", lambda t, m: t["m/value"].__setitem__(2, np.inf)),
    "root_out_of_range": ("root index", lambda t, m: t["m/roots"].__setitem__(1, 4)),
    "negative_root": ("root index", lambda t, m: t["m/roots"].__setitem__(1, -1)),
    "int64_feature": ("int32", lambda t, m: t.__setitem__("m/feature", t["m/feature"].astype(np.int64))),
    "float32_threshold": ("float64", lambda t, m: t.__setitem__("m/threshold", t["m/threshold"].astype(np.float32))),
    "uint8_missing_left": ("bool", lambda t, m: t.__setitem__("m/missing_left", t["m/missing_left"].view(np.uint8))),
    "short_value": ("one per node", lambda t, m: t.__setitem__("m/value", t["m/value"][:-1])),
    "2d_roots": ("1-D", lambda t, m: t.__setitem__("m/roots", t["m/roots"].reshape(1, -1))),
    "missing_array": ("'m/value' is missing", lambda t, m: t.pop("m/value")),
    "extra_array": ("unexpected array", lambda t, m: t.__setitem__("m/depth", np.zeros(4, np.int32))),
    "no_format": ("not an ecgnet trees file", lambda t, m: m.pop("format")),
    "other_version": ("version 2", lambda t, m: m.__setitem__("format_version", "2")),
    "models_not_json": ("JSON object", lambda t, m: m.__setitem__("models", "{m")),
    "no_models": ("JSON object", lambda t, m: m.__setitem__("models", "{}")),
    "nan_baseline": ("baseline", lambda t, m: _set_index(m, baseline=float("nan"))),
    "string_baseline": ("baseline", lambda t, m: _set_index(m, baseline="0.5")),
    "negative_num_features": ("num_features", lambda t, m: _set_index(m, num_features=-1)),
    "bool_num_features": ("num_features", lambda t, m: _set_index(m, num_features=True)),
    "too_few_features": ("feature index", lambda t, m: _set_index(m, num_features=1)),
    "extra_entry": ("exactly baseline and num_features", lambda t, m: _set_index(m, depth=3)),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_damaged_file_is_one_line_saying_what_is_wrong(tmp_path, corruption):
    path = tmp_path / "trees.safetensors"
    save_trees(path, {"m": _tiny()})
    tensors, metadata = _read_raw(path)
    words, damage = CORRUPTIONS[corruption]
    damage(tensors, metadata)
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(TreesError) as error:
        load_trees(path)
    message = str(error.value)
    assert words in message and "\n" not in message
    assert str(path) not in message  # the caller (ecgnet.artifacts for a model folder) names the file


@pytest.mark.parametrize("keep", [0, 7, 100, -3])
def test_truncated_or_missing_file_says_so(tmp_path, keep):
    path = tmp_path / "trees.safetensors"
    save_trees(path, {"m": _tiny()})
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    with pytest.raises(TreesError, match="^not a readable safetensors file"):
        load_trees(path)
    path.unlink()
    with pytest.raises(TreesError, match="^trees file is missing$"):
        load_trees(path)


def test_nonzero_bool_bytes_read_as_true(tmp_path):
    path = tmp_path / "trees.safetensors"
    save_trees(path, {"m": _tiny()})
    data = bytearray(path.read_bytes())
    tensors, _ = _read_raw(path)
    # The first missing_left byte is 1 (True); a stranger's file may hold 2 there instead.
    with safe_open(str(path), framework="numpy") as f:
        assert f.get_tensor("m/missing_left")[0]
    header = int.from_bytes(data[:8], "little")
    offsets = json.loads(data[8 : 8 + header])["m/missing_left"]["data_offsets"]
    data[8 + header + offsets[0]] = 2
    path.write_bytes(bytes(data))
    loaded = load_trees(path)["m"]
    assert loaded.missing_left.tolist() == tensors["m/missing_left"].tolist()
    np.testing.assert_array_equal(loaded.decision_function(np.array([[0, np.nan]])), [-0.25])
