"""Networks -> probabilities -> thresholds -> outputs.

:class:`Ensemble` holds the trained networks of a model folder. A record is preprocessed, cut into
overlapping windows that cover all of it (or, with beat sampling, into a fixed set of groups of its beats),
every window goes through every network (with the record's hand-made features when the model takes them),
and the probabilities are averaged over networks and windows. The one-record path (:func:`predict_record`)
and the batched folder path (:func:`run_folder`) share these steps, so they give the same numbers.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from models import create_model_from_config

from . import feature_model, features, measurements, signals
from .artifacts import ModelFolderError, load_model_folder, trees_file
from .config import RunConfig
from .data import lead_set_name, record_windows
from .device import resolve_device
from .files import write_text_atomic
from .outputs import save_outputs
from .records import (
    Header,
    RecordError,
    closest_lead_set,
    find_header_files,
    read_header,
    read_record,
    standard_leads,
)
from .stacking import Stack
from .trees import TreeEnsemble

#: What a stacked model gives per record (:meth:`Ensemble.combine`): the final outputs (the stack's), each model alone.
STACKED_OUTPUTS = ("final", "network", "features")


@dataclass
class Ensemble:
    """The networks of a model folder and what is needed to turn their outputs into labels."""

    config: RunConfig
    networks: list[torch.nn.Module]
    class_codes: list[str]
    thresholds: dict[str, np.ndarray]
    device: torch.device
    batch_size: int = 64
    # The feature model and the stack (see ecgnet.feature_model, ecgnet.stacking), when the model has them.
    trees: dict[str, TreeEnsemble] | None = None
    stacks: dict[str, Stack] | None = None
    component_thresholds: dict[str, dict[str, np.ndarray]] | None = None

    @property
    def stacked(self) -> bool:
        return self.stacks is not None

    def _tensor(self, values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).to(self.device)

    @torch.inference_mode()
    def window_probabilities(self, windows: np.ndarray, masks: np.ndarray, demographics: np.ndarray,
                             extras: np.ndarray | None = None) -> np.ndarray:
        """Mean sigmoid over the networks for each window: (W, 12, T) -> (W, classes); ``extras`` (W, F)
        are the hand-made features of each window's record, for networks that take them."""
        out = np.empty((len(windows), len(self.class_codes)), dtype=np.float64)
        for start in range(0, len(windows), self.batch_size):
            part = slice(start, start + self.batch_size)
            x, m, d = self._tensor(windows[part]), self._tensor(masks[part]), self._tensor(demographics[part])
            e = None if extras is None else self._tensor(extras[part])
            total = sum(torch.sigmoid(net(x, m, d, e).float()) for net in self.networks)
            out[part] = (total / len(self.networks)).cpu().numpy()
        return out

    def thresholds_for(self, leads: Sequence[str], component: str = "final") -> np.ndarray:
        """Thresholds tuned for ``leads``; for a lead set not tuned, those of the most similar tuned set.
        ``component`` "network" or "features" gives the thresholds of that model alone (stacked models)."""
        thresholds = self.thresholds
        if component != "final" and self.stacked:
            thresholds = self.component_thresholds[component]
        return thresholds[closest_lead_set(lead_set_name(leads), list(thresholds))]

    def combine(self, lead_set: str, network: np.ndarray, measurements: np.ndarray,
                demographics: np.ndarray) -> dict[str, np.ndarray]:
        """The probabilities (records, classes) of records of one lead set: ``final`` (the stack's, when there
        is one), and with a stack ``network`` and ``features`` (the feature model) alone."""
        if not self.stacked:
            return {"final": network}
        features = feature_model.predict(self.trees, lead_set, self.class_codes, measurements, demographics)
        stacked = self.stacks[closest_lead_set(lead_set, list(self.stacks))].combine(network, features)
        return dict(zip(STACKED_OUTPUTS, (stacked, network, features)))


def build_network(config: RunConfig, num_classes: int) -> torch.nn.Module:
    """The (untrained) network a run's config describes, with the hand-made features input when they are on."""
    extra = features.NUM_FEATURES if config.features.enabled else 0
    return create_model_from_config(config.model, num_classes, extra_features=extra)


def load_ensemble(model_dir: str | os.PathLike, device: str = "auto") -> Ensemble:
    """Build the ensemble of a model folder once; raises ModelFolderError naming the bad file."""
    folder = load_model_folder(model_dir)
    torch_device = resolve_device(device)
    networks = []
    for k, state in enumerate(folder.state_dicts):
        network = build_network(folder.config, len(folder.class_codes))
        try:
            network.load_state_dict(state)
        except RuntimeError as error:
            first_line = str(error).strip().splitlines()[0]
            raise ModelFolderError(f"{model_dir}: weights of fold {k} do not fit the configured network "
                                   f"({first_line})") from None
        networks.append(network.to(torch_device).eval())
    if folder.config.feature_model.enabled != (folder.stacks is not None):
        raise ModelFolderError(f"{Path(model_dir) / 'model.json'}: the recipe in config.json "
                               f"{'has' if folder.config.feature_model.enabled else 'has no'} feature model, "
                               f"but the folder {'has no' if folder.stacks is None else 'has a'} stack")
    if folder.stacks is not None:
        check_trees(folder.trees, folder.stacks, folder.class_codes, trees_file(model_dir))
    # A GPU is only busy with large batches; on a CPU, 64 windows already amortise the per-call overhead.
    batch_size = 1024 if torch_device.type == "cuda" else 64
    return Ensemble(folder.config, networks, folder.class_codes, folder.thresholds, torch_device, batch_size,
                    folder.trees, folder.stacks, folder.component_thresholds)


def check_trees(trees: dict[str, TreeEnsemble], stacks: dict[str, Stack], codes: list[str], path: Path) -> None:
    """Every lead set with a stack has a model per class, each taking as many inputs as the measurements give."""
    inputs = feature_model.NUM_INPUTS
    for lead_set in stacks:
        for code in codes:
            model = trees.get(feature_model.model_key(lead_set, code))
            if model is None:
                raise ModelFolderError(f"{path}: no model for class {code} and leads {lead_set}")
            if model.num_features != inputs:
                raise ModelFolderError(f"{path}: the model for class {code} and leads {lead_set} takes "
                                       f"{model.num_features} inputs, not {inputs}")


@dataclass
class PreparedRecord:
    """The inference windows of one record."""

    record_id: str
    windows: np.ndarray  # (W, 12, T)
    lead_mask: np.ndarray  # (12,)
    demographics: np.ndarray  # (4,)
    features: np.ndarray | None = None  # (NUM_FEATURES,) hand-made features, when the model takes them
    lead_set: str = ""  # the leads it was prepared with (ecgnet.data.lead_set_name)
    measurements: np.ndarray | None = None  # (NUM_MEASUREMENTS,) for the feature model, when the model has one


def prepare_record(
    recording: np.ndarray, header: Header, leads: Sequence[str], config: RunConfig, source: str | os.PathLike
) -> PreparedRecord:
    """Preprocess the record's leads among ``leads`` (the others are never filtered) and cut it into windows
    (or beat groups); with beat sampling or hand-made features on, R peaks are found in those leads only."""
    signal, mask = signals.preprocess(recording, header, config.signals, source=source, keep_leads=leads)
    annotation = None
    if config.beats.enabled or config.features.enabled:
        annotation = features.annotate(recording, header, config.signals.sample_rate, keep_leads=leads)
    peaks = None if annotation is None else annotation.peaks
    windows, keep = record_windows(signal, mask, leads, config.signals, config.beats, peaks)
    if not keep.any():  # the leads are there but hold no finite sample
        raise RecordError(source, f"has no usable sample in the model's leads ({', '.join(leads)})")
    extra = annotation.features if config.features.enabled else None
    measured = measurements.measure(recording, header, [leads], source)[0] if config.feature_model.enabled else None
    return PreparedRecord(header.record_id, windows, keep, signals.demographics(header.age, header.sex), extra,
                          lead_set_name(leads), measured)


def combine_windows(window_probabilities: np.ndarray) -> np.ndarray:
    """One record's probabilities from those of its windows: their mean."""
    return window_probabilities.mean(axis=0)


def predict_prepared(ensemble: Ensemble, records: Sequence[PreparedRecord]) -> np.ndarray:
    """Final probabilities (records, classes) for prepared records (the networks', or with a stack the
    stack's), all their windows in shared batches."""
    return predict_components(ensemble, records)["final"]


def predict_components(ensemble: Ensemble, records: Sequence[PreparedRecord]) -> dict[str, np.ndarray]:
    """Probabilities (records, classes) for prepared records, by :meth:`Ensemble.combine`: ``final``, and
    with a stack ``network`` and ``features``; each record combined for its own lead set."""
    network = _network_probabilities(ensemble, records)
    if not ensemble.stacked:
        return {"final": network}
    out = {name: np.zeros_like(network) for name in STACKED_OUTPUTS}  # no records: every output empty
    for lead_set in dict.fromkeys(r.lead_set for r in records):
        rows = [i for i, r in enumerate(records) if r.lead_set == lead_set]
        combined = ensemble.combine(lead_set, network[rows], np.stack([records[i].measurements for i in rows]),
                                    np.stack([records[i].demographics for i in rows]))
        for name, values in combined.items():
            out[name][rows] = values
    return out


def _network_probabilities(ensemble: Ensemble, records: Sequence[PreparedRecord]) -> np.ndarray:
    """The networks' probabilities (records, classes), all windows in shared batches."""
    if not records:
        return np.zeros((0, len(ensemble.class_codes)))
    counts = [len(r.windows) for r in records]
    windows = np.concatenate([r.windows for r in records])
    masks = np.repeat(np.stack([r.lead_mask for r in records]), counts, axis=0)
    demographics = np.repeat(np.stack([r.demographics for r in records]), counts, axis=0)
    extras = None
    if records[0].features is not None:
        extras = np.repeat(np.stack([r.features for r in records]), counts, axis=0)
    per_window = ensemble.window_probabilities(windows, masks, demographics, extras)
    bounds = np.cumsum([0, *counts])
    return np.stack([combine_windows(per_window[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])


def predict_record(
    ensemble: Ensemble, recording: np.ndarray, header: Header, leads: Sequence[str], source: str = "recording"
) -> np.ndarray:
    """Probabilities (classes,) for one record."""
    return predict_prepared(ensemble, [prepare_record(recording, header, leads, ensemble.config, source)])[0]


def decide(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Binary labels from probabilities and per-class thresholds."""
    return probabilities >= thresholds


# The folder runner used by run_model.py.


def group_by_lead_set(header_files: Sequence[Path]) -> tuple[dict[tuple[str, ...], list], list[tuple[str, str]]]:
    """Header files grouped by the standard leads they list; (file, reason) for unreadable headers."""
    groups: dict[tuple[str, ...], list] = {}
    failures = []
    for path in header_files:
        try:
            _, header = read_header(path)
        except RecordError as error:
            failures.append((error.source, error.problem))
            continue
        leads = standard_leads(header.leads)
        if not leads:
            failures.append((str(path), f"lists no standard lead ({', '.join(header.leads)})"))
            continue
        groups.setdefault(leads, []).append(path)
    return groups, failures


class _RecordLoader(torch.utils.data.Dataset):
    """Reads and prepares records in DataLoader workers; errors are returned, not raised."""

    def __init__(self, paths: Sequence[Path], leads: Sequence[str], config: RunConfig):
        self.paths, self.leads, self.config = list(paths), tuple(leads), config

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        path = self.paths[i]
        try:
            record = read_record(path)
            return path, prepare_record(record.recording, record.header, self.leads, self.config, path)
        except RecordError as error:
            return path, error


def prepared_batches(paths: Sequence[Path], leads: Sequence[str], config: RunConfig, workers: int,
                     records_per_batch: int) -> Iterator[list]:
    """Lists of (path, PreparedRecord or RecordError), read and prepared in ``workers`` processes."""
    loader = torch.utils.data.DataLoader(
        _RecordLoader(paths, leads, config), batch_size=records_per_batch, num_workers=workers,
        collate_fn=list, persistent_workers=False,
    )
    yield from loader


def run_folder(
    model_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    device: str = "auto",
    workers: int = 0,
    records_per_batch: int | None = None,
    progress: bool = True,
) -> tuple[int, list[tuple[str, str]]]:
    """Write an output file for every readable record of ``data_dir``; return (written, failures).

    The ensemble is built once; records are grouped by lead set, each group gets the thresholds tuned
    for its leads, and its records are read and prepared in ``workers`` DataLoader processes while
    the networks run. Failures are also written to ``OUTPUTS/failures.csv``.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    groups, failures = group_by_lead_set(find_header_files(data_dir))
    ensemble = load_ensemble(model_dir, device)
    records_per_batch = records_per_batch or ensemble.batch_size // 2
    written = 0
    total = sum(len(v) for v in groups.values())
    bar = tqdm(total=total, desc="running", unit="rec", disable=not progress)
    for leads, paths in groups.items():
        thresholds = ensemble.thresholds_for(leads)
        for batch in prepared_batches(paths, leads, ensemble.config, workers, records_per_batch):
            ok = [(p, r) for p, r in batch if not isinstance(r, RecordError)]
            failures += [(r.source, r.problem) for _, r in batch if isinstance(r, RecordError)]
            probabilities = predict_prepared(ensemble, [r for _, r in ok])
            for (path, _), p in zip(ok, probabilities):
                save_outputs(output_dir / f"{path.stem}.csv", path.stem, ensemble.class_codes,
                             decide(p, thresholds).astype(int), p)
            written += len(ok)
            bar.update(len(batch))
    bar.close()
    write_failures(output_dir / "failures.csv", failures)
    return written, failures


def write_failures(path: Path, failures: Sequence[tuple[str, str]]) -> None:
    """``failures.csv``: one row per record that could not be run (file, reason)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "reason"])
    writer.writerows(failures)
    write_text_atomic(path, buffer.getvalue())

