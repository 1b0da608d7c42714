"""Prepared records -> training examples: the folds, and the torch dataset that draws training windows and
lead subsets from the prepared records (:mod:`ecgnet.prepare`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import augment, beats, signals
from .config import AugmentConfig, BeatConfig
from .prepare import PreparedSignals, record_length
from .records import LEAD_SETS, STANDARD_LEADS, standard_leads

REDUCED_LEAD_SETS: tuple[tuple[str, ...], ...] = tuple(LEAD_SETS[n] for n in (6, 4, 3, 2))


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
    # Also the example with every lead its record has (``full_signal``, ``full_lead_mask``), for distillation
    # across lead sets; the augmentations then run once, on the full copy, before the lead choice.
    full_leads: bool = False


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

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, item = item if isinstance(item, tuple) else (self.epoch, item)  # (epoch, index) from EpochSampler
        row = self.rows[item]
        rng = np.random.default_rng((self.seed, epoch, int(row)))
        signal = self._crop(row, rng)
        keep = random_lead_mask(rng, self.reduced_probability) & self.prepared.lead_masks[row]
        if not keep.any():  # the record lacks every chosen lead: fall back to the leads it has
            keep = self.prepared.lead_masks[row].copy()
        example = {}
        if self.options.full_leads:
            # Both copies share the window and the augmentations: they differ by the leads alone.
            every = self.prepared.lead_masks[row]
            full = self._augmented(np.where(every[:, None], signal, 0.0).astype(np.float32), every, rng)
            signal = np.where(keep[:, None], full, 0.0).astype(np.float32)
            example = {"full_signal": torch.from_numpy(np.ascontiguousarray(full, dtype=np.float32)),
                       "full_lead_mask": torch.from_numpy(every.astype(np.float32))}
        else:  # after the lead choice: augmentations see only the kept leads
            signal = self._augmented(np.where(keep[:, None], signal, 0.0).astype(np.float32), keep, rng)
        extra = self.prepared.features[row] if self.options.features else np.zeros(0, dtype=np.float32)
        source = -1 if self.options.sources is None else int(self.options.sources[row])
        return example | {
            "signal": torch.from_numpy(np.ascontiguousarray(signal, dtype=np.float32)),
            "lead_mask": torch.from_numpy(keep.astype(np.float32)),
            "demographics": torch.from_numpy(self.prepared.demographics[row]),
            "extra": torch.from_numpy(np.asarray(extra, dtype=np.float32)),
            "labels": torch.from_numpy(self.labels[row]),
            "source": torch.tensor(source, dtype=torch.int64),
        }

    def _augmented(self, signal: np.ndarray, keep: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.options.augment is None:
            return signal
        return augment.augment(signal, keep, self.options.augment, self.options.sample_rate, rng)


class EpochSampler(torch.utils.data.Sampler):
    """A new order of ``size`` examples every epoch (:meth:`set_epoch`), as ``(epoch, index)`` pairs.

    The epoch travels with each index, so a dataset drawing its crops, lead subsets and augmentations from the
    epoch sees it even in worker processes that live across epochs (a ``set_epoch`` on the main process's
    dataset never reaches them). With ``shard`` (a DistributedSampler) the order is this process's share.
    """

    def __init__(self, size: int, seed: int, shard: torch.utils.data.DistributedSampler | None = None):
        self.size, self.seed, self.shard, self.epoch = size, seed, shard, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.shard is not None:
            self.shard.set_epoch(epoch)  # a new order each epoch, the same on every process

    def __iter__(self):
        if self.shard is not None:
            order = list(self.shard)
        else:
            order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()
        return ((self.epoch, index) for index in order)

    def __len__(self) -> int:
        return len(self.shard) if self.shard is not None else self.size


def epoch_loader(dataset: torch.utils.data.Dataset, sampler: EpochSampler, batch_size: int, workers: int,
                 pin_memory: bool, drop_last: bool) -> torch.utils.data.DataLoader:
    """The batches of ``dataset`` in ``sampler``'s order, built once and iterated every epoch after
    ``sampler.set_epoch``: ``workers`` processes that stay alive from epoch to epoch."""
    # Its own generator: a loader draws a seed from it per iterator, which would otherwise come from torch's
    # global generator, shifting the dropout of training by whether, and how often, workers are started.
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last,
                                       num_workers=workers, pin_memory=pin_memory, persistent_workers=workers > 0,
                                       generator=torch.Generator().manual_seed(sampler.seed))


class RecordWindows(torch.utils.data.Dataset):
    """The inference windows of some prepared records, restricted to ``leads``: an index of (record, window)
    pairs made once, and each window cut from its record when asked for, in loader workers. Validation then
    never holds every window of a fold in memory at once, and never rebuilds them epoch after epoch.

    An item is a dict of tensors: ``signal`` (12, T), ``lead_mask`` (12,), ``demographics`` (4,), ``extra``
    (F,) hand-made features (F = 0 when off) and ``position`` (the record's place in ``rows``).
    """

    def __init__(self, prepared: PreparedSignals, rows: Sequence[int], leads: Sequence[str], signals_config,
                 beat_config: BeatConfig | None = None, features: bool = False):
        self.prepared, self.rows, self.leads = prepared, np.asarray(rows, dtype=int), tuple(leads)
        self.config, self.beats, self.features = signals_config, beat_config, features
        counts = [self._count(row) for row in self.rows]
        self.position = np.repeat(np.arange(len(self.rows)), counts)
        self.window = np.concatenate([np.arange(n) for n in counts]) if counts else np.zeros(0, dtype=int)

    def _beat_sampling(self) -> bool:
        return self.beats is not None and self.beats.enabled

    def _count(self, row: int) -> int:
        if self._beat_sampling():
            return len(self._windows(row)[0])
        length = record_length(self.prepared.signals, row)
        return len(signals.window_starts(length, self.config.window_samples, self.config.stride_samples))

    def _windows(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        from .prepare import record_windows  # (W, 12, T) beat groups: cut whole, they are few

        return record_windows(self.prepared.record(row), self.leads, self.config, self.beats)

    def __len__(self) -> int:
        return len(self.position)

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        position, k = int(self.position[item]), int(self.window[item])
        row = int(self.rows[position])
        if self._beat_sampling():
            windows, keep = self._windows(row)
            window = windows[k]
        else:  # one sliding window, cut alone: the same samples as the k-th of signals.sliding_windows
            signal = self.prepared.signals[row]
            length, stride = self.config.window_samples, self.config.stride_samples
            start = int(signals.window_starts(signal.shape[-1], length, stride)[k])
            keep = np.isin(STANDARD_LEADS, standard_leads(self.leads)) & self.prepared.lead_masks[row]
            segment = np.where(keep[:, None], signal[:, start : start + length], 0.0)
            window = signals.sliding_windows(segment, length, stride)[0]
        extra = self.prepared.features[row] if self.features else np.zeros(0, dtype=np.float32)
        return {
            "signal": torch.from_numpy(np.ascontiguousarray(window, dtype=np.float32)),
            "lead_mask": torch.from_numpy(keep.astype(np.float32)),
            "demographics": torch.from_numpy(np.asarray(self.prepared.demographics[row], dtype=np.float32)),
            "extra": torch.from_numpy(np.asarray(extra, dtype=np.float32)),
            "position": torch.tensor(position, dtype=torch.int64),
        }
