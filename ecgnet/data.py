"""Records -> training examples: the index of a data folder, its preprocessed signals, the folds, and
the torch dataset that draws training windows and lead subsets from them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from . import augment, beats, signals
from .config import AugmentConfig, BeatConfig, SignalConfig
from .labels import ClassTable
from .records import (
    LEAD_SETS,
    STANDARD_LEADS,
    Header,
    RecordError,
    find_header_files,
    read_header,
    recording_path,
    source_of,
    standard_leads,
)

REDUCED_LEAD_SETS: tuple[tuple[str, ...], ...] = tuple(LEAD_SETS[n] for n in (6, 4, 3, 2))


def lead_set_name(leads: Sequence[str]) -> str:
    """A stable key for a lead set: its standard leads, each once, in standard order, joined by commas.

    Names are compared in their standard spelling (``AVR`` is ``aVR``); non-standard names are dropped.
    """
    return ",".join(standard_leads(leads))


@dataclass
class RecordIndex:
    """The labelled records of a data folder, read from their headers only."""

    header_paths: list[Path]
    record_ids: list[str]
    sources: list[str]
    labels: np.ndarray  # (records, classes) bool

    def __len__(self) -> int:
        return len(self.header_paths)

    def subset(self, rows: Sequence[int] | np.ndarray) -> RecordIndex:
        rows = np.asarray(rows, dtype=int)
        return RecordIndex(
            header_paths=[self.header_paths[i] for i in rows],
            record_ids=[self.record_ids[i] for i in rows],
            sources=[self.sources[i] for i in rows],
            labels=self.labels[rows],
        )


def _readable_headers(data_dir, recursive: bool, failures: list[tuple[str, str]]) -> dict[str, tuple[Path, Header]]:
    """One header per record id: a record found more than once (a folder holding the same record as
    12-lead and reduced-lead copies) is kept once, the copy with the most leads, so that no record can
    sit in a training fold and its own validation fold."""
    chosen: dict[str, tuple[Path, Header]] = {}
    for header_path in find_header_files(data_dir, recursive=recursive):
        try:
            _, header = read_header(header_path)
            if not recording_path(header_path).is_file():
                raise RecordError(recording_path(header_path), "recording file is missing")
        except RecordError as error:
            failures.append((str(header_path), error.problem))
            continue
        record_id = header_path.stem
        if record_id in chosen:
            kept_path, kept = chosen[record_id]
            if header.num_leads > kept.num_leads:
                chosen[record_id] = (header_path, header)
                header_path = kept_path
            failures.append((str(header_path), f"another copy of record {record_id} with more leads is used"))
            continue
        chosen[record_id] = (header_path, header)
    return chosen


def index_records(
    data_dir: str | os.PathLike, table: ClassTable, recursive: bool = True
) -> tuple[RecordIndex, list[tuple[str, str]]]:
    """Index every header of ``data_dir`` that has its recording; return the index and (file, reason)
    for each record that was skipped (unreadable header, missing recording, duplicate record id)."""
    failures: list[tuple[str, str]] = []
    chosen = _readable_headers(data_dir, recursive, failures)
    paths = [path for path, _ in chosen.values()]
    headers = [header for _, header in chosen.values()]
    labels = table.encode_many([h.labels for h in headers]) if headers else np.zeros((0, len(table)), dtype=bool)
    index = RecordIndex(
        header_paths=paths,
        record_ids=list(chosen),
        sources=[source_of(record_id) for record_id in chosen],
        labels=labels,
    )
    return index, failures


@dataclass
class PreparedSignals:
    """Preprocessed signals of indexed records, in memory, with demographics and lead masks; and, when
    beat sampling or hand-made features are on, each record's R peaks (at the model rate) and features
    (see :mod:`ecgnet.features`)."""

    signals: Sequence[np.ndarray]  # each (12, samples) float32 at the model rate: a list or a cache store
    lead_masks: np.ndarray  # (records, 12) bool
    demographics: np.ndarray  # (records, 4) float32
    peaks: Sequence[np.ndarray] | None = None  # each (P,) int64 sample indices at the model rate
    features: np.ndarray | None = None  # (records, NUM_FEATURES) float32

    def subset(self, rows: Sequence[int] | np.ndarray) -> PreparedSignals:
        """The prepared signals of some rows, in that order (signals are not copied)."""
        rows = np.asarray(rows, dtype=int)
        return PreparedSignals(_Rows(self.signals, rows), self.lead_masks[rows], self.demographics[rows],
                               None if self.peaks is None else _Rows(self.peaks, rows),
                               None if self.features is None else self.features[rows])


def join_prepared(first: PreparedSignals, second: PreparedSignals) -> PreparedSignals:
    """The records of ``first`` then those of ``second`` (signals and peaks are not copied)."""
    def joined(a, b):
        return None if a is None or b is None else _Joined(a, b)

    features = None
    if first.features is not None and second.features is not None:
        features = np.concatenate([first.features, second.features])
    return PreparedSignals(_Joined(first.signals, second.signals),
                           np.concatenate([first.lead_masks, second.lead_masks]),
                           np.concatenate([first.demographics, second.demographics]),
                           joined(first.peaks, second.peaks), features)


class _Joined(Sequence):
    """Two sequences of arrays, one after the other, read on demand."""

    def __init__(self, first: Sequence[np.ndarray], second: Sequence[np.ndarray]):
        self.first, self.second = first, second

    def __len__(self) -> int:
        return len(self.first) + len(self.second)

    def __getitem__(self, item: int) -> np.ndarray:
        item = int(item)
        return self.first[item] if item < len(self.first) else self.second[item - len(self.first)]


class _Rows(Sequence):
    """Some rows of a sequence of signals, read on demand."""

    def __init__(self, signals: Sequence[np.ndarray], rows: np.ndarray):
        self.signals, self.rows = signals, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, item: int) -> np.ndarray:
        return self.signals[int(self.rows[item])]


def prepare_signals(
    index: RecordIndex, config: SignalConfig, n_jobs: int = 1, progress: bool = True
) -> tuple[PreparedSignals, list[int], list[tuple[str, str]]]:
    """Read and preprocess every indexed record in parallel. Returns the prepared signals, the index
    rows they belong to, and (file, reason) for each record that could not be read."""

    def attempt(path: Path):
        try:
            return signals.prepare_file(path, config)
        except RecordError as error:
            return error

    iterator = tqdm(index.header_paths, desc="preprocessing", unit="rec", disable=not progress)
    results = Parallel(n_jobs=n_jobs, batch_size=16)(delayed(attempt)(p) for p in iterator)
    kept, failures, prepared = [], [], []
    for row, result in enumerate(results):
        if isinstance(result, RecordError):
            failures.append((result.source, result.problem))
        else:
            kept.append(row)
            prepared.append(result)
    if not prepared:
        return PreparedSignals([], np.zeros((0, 12), bool), np.zeros((0, 4), np.float32)), kept, failures
    sigs, masks, demo = zip(*prepared)
    return PreparedSignals(list(sigs), np.stack(masks), np.stack(demo).astype(np.float32)), kept, failures


def stratified_folds(labels: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """A fold number for each record such that every class's positives are spread evenly over folds.

    Iterative stratification: the class with the fewest records still to place goes first; each of
    its records goes to the fold that most lacks that class (ties broken by the fold that most lacks
    the record's other classes, then records, then at random). Records with no label are placed
    last. Folds hold ``N // n_folds`` records or one more, whatever the labels. Deterministic for a
    given seed.
    """
    labels = np.asarray(labels).astype(bool)
    if labels.ndim != 2:
        raise ValueError(f"labels must be (records, classes), got shape {labels.shape}")
    n_records = labels.shape[0]
    if n_folds < 2:
        raise ValueError(f"need at least 2 folds, got {n_folds}")
    if n_records < n_folds:
        raise ValueError(f"{n_records} records cannot be split into {n_folds} folds")
    rng = np.random.default_rng(seed)
    folds = np.full(n_records, -1, dtype=int)
    # How many more positives of each class, and records, each fold should get.
    wanted_per_class = np.tile(labels.sum(axis=0) / n_folds, (n_folds, 1))
    totals = np.maximum(labels.sum(axis=0), 1)
    wanted_size = np.full(n_folds, n_records / n_folds)
    sizes = np.zeros(n_folds, dtype=int)
    floor, spare = divmod(n_records, n_folds)  # ``spare`` folds may hold one record more than ``floor``
    unplaced = np.ones(n_records, dtype=bool)
    while unplaced.any():
        counts = labels[unplaced].sum(axis=0)
        if counts.any():
            rarest = int(np.flatnonzero(counts == counts[counts > 0].min())[0])
            rows = rng.permutation(np.flatnonzero(unplaced & labels[:, rarest]))
            need = wanted_per_class[:, rarest]
        else:
            rows, need = rng.permutation(np.flatnonzero(unplaced)), None
        for row in rows:
            open_folds = sizes < floor + (1 if spare > 0 else 0)
            desire = wanted_size if need is None else need
            # The record's other classes, rare ones weighing more, so that records placed for one
            # class do not pile up the positives of another in the same fold.
            others = (wanted_per_class[:, labels[row]] / totals[labels[row]]).sum(axis=1)
            key = np.where(open_folds, 0.0, -np.inf)
            # Lexicographic choice (last key first): open, most lacking the class, most lacking the
            # record's other classes, most lacking records, then random.
            order = np.lexsort((rng.random(n_folds), wanted_size, others, desire, key))
            fold = int(order[-1])
            if sizes[fold] == floor:
                spare -= 1
            folds[row] = fold
            sizes[fold] += 1
            wanted_per_class[fold, labels[row]] -= 1
            wanted_size[fold] -= 1
            unplaced[row] = False
    return folds


def leave_source_out_folds(sources: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """A fold per source: fold k holds the records of the k-th source (sorted by name)."""
    names = sorted(set(sources))
    return np.array([names.index(s) for s in sources], dtype=int), names


def random_lead_mask(rng: np.random.Generator, reduced_probability: float) -> np.ndarray:
    """Which of the 12 leads to keep for one training example.

    With probability ``1 - reduced_probability`` all leads; otherwise one of the Challenge's reduced
    sets (three times out of four) or a random non-empty subset, so that any subset can be served.
    """
    keep = np.ones(12, dtype=bool)
    if rng.random() >= reduced_probability:
        return keep
    if rng.random() < 0.75:
        chosen = REDUCED_LEAD_SETS[rng.integers(len(REDUCED_LEAD_SETS))]
        return np.isin(STANDARD_LEADS, chosen)
    keep[:] = False
    keep[rng.choice(12, size=rng.integers(1, 12), replace=False)] = True
    return keep


@dataclass
class ExampleOptions:
    """How :class:`TrainingWindows` makes an example beyond a random window and lead subset: beat sampling
    instead of the window (needs the records' peaks), augmentations, hand-made features (needs them
    prepared) and each record's source index (for label masking and the domain classifier)."""

    beats: BeatConfig | None = None
    augment: AugmentConfig | None = None
    sample_rate: int = 250
    features: bool = False
    sources: np.ndarray | None = None  # (records,) int64 source index of every prepared row


class TrainingWindows(torch.utils.data.Dataset):
    """Random training examples with random lead subsets; reproducible for a given seed and epoch.

    An example is a dict of tensors: ``signal`` (12, T), ``lead_mask`` (12,), ``demographics`` (4,),
    ``extra`` (F,) hand-made features (F = 0 when off), ``labels`` (classes,) and ``source`` (a scalar
    index, -1 when unknown).
    """

    def __init__(
        self,
        prepared: PreparedSignals,
        rows: Sequence[int],
        labels: np.ndarray,
        window: int,
        reduced_probability: float,
        seed: int,
        options: ExampleOptions | None = None,
    ):
        self.prepared = prepared
        self.rows = np.asarray(rows, dtype=int)
        self.labels = labels.astype(np.float32)
        self.window = window
        self.reduced_probability = reduced_probability
        self.seed = seed
        self.options = options or ExampleOptions()
        self.epoch = 0
        if self.options.beats is not None and self.options.beats.enabled and prepared.peaks is None:
            raise ValueError("beat sampling needs the records' R peaks: prepare them first")
        if self.options.features and prepared.features is None:
            raise ValueError("hand-made features are on but were not prepared")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def _crop(self, row: int, rng: np.random.Generator) -> np.ndarray:
        """The example's signal before lead selection: a random window, or a random combination of beats."""
        beat_config = self.options.beats
        if beat_config is not None and beat_config.enabled:
            return beats.random_beat_combination(self.prepared.signals[row], self.prepared.peaks[row], beat_config,
                                                 self.options.sample_rate, rng)
        return signals.random_window(self.prepared.signals[row], self.window, rng)

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        row = self.rows[item]
        rng = np.random.default_rng((self.seed, self.epoch, int(row)))
        signal = self._crop(row, rng)
        keep = random_lead_mask(rng, self.reduced_probability) & self.prepared.lead_masks[row]
        if not keep.any():  # the record lacks every chosen lead: fall back to the leads it has
            keep = self.prepared.lead_masks[row].copy()
        signal = np.where(keep[:, None], signal, 0.0).astype(np.float32)
        if self.options.augment is not None:  # after the lead choice: augmentations see only the kept leads
            signal = augment.augment(signal, keep, self.options.augment, self.options.sample_rate, rng)
        extra = self.prepared.features[row] if self.options.features else np.zeros(0, dtype=np.float32)
        source = -1 if self.options.sources is None else int(self.options.sources[row])
        return {
            "signal": torch.from_numpy(np.ascontiguousarray(signal, dtype=np.float32)),
            "lead_mask": torch.from_numpy(keep.astype(np.float32)),
            "demographics": torch.from_numpy(self.prepared.demographics[row]),
            "extra": torch.from_numpy(np.asarray(extra, dtype=np.float32)),
            "labels": torch.from_numpy(self.labels[row]),
            "source": torch.tensor(source, dtype=torch.int64),
        }


def record_windows(
    signal: np.ndarray,
    lead_mask: np.ndarray,
    keep_leads: Iterable[str],
    config: SignalConfig,
    beat_config: BeatConfig | None = None,
    peaks: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The inference windows of one preprocessed record restricted to ``keep_leads``: (W, 12, T) and
    the (12,) lead mask actually used. Sliding windows that cover the record, or, with beat sampling on,
    the record's deterministic groups of beats (``peaks`` at the model rate)."""
    keep = np.isin(STANDARD_LEADS, standard_leads(keep_leads)) & np.asarray(lead_mask, dtype=bool)
    masked = np.where(keep[:, None], signal, 0.0).astype(np.float32)
    if beat_config is not None and beat_config.enabled:
        if peaks is None:
            raise ValueError("beat sampling needs the record's R peaks")
        return beats.beat_groups(masked, peaks, beat_config, config.sample_rate), keep
    return signals.sliding_windows(masked, config.window_samples, config.stride_samples), keep
