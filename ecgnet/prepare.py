"""Records -> prepared records: the one torch-free step between reading a record and everything that learns
from it, predicts on it or explains it.

:func:`prepare` turns a record into a :class:`PreparedRecord`: its signal at the model's rate (band-passed and
standardised, in the 12 standard lead slots), the lead mask, the demographics, and as the run needs them the
R peaks and hand-made features (found on the resampled signal itself) and the measurements of the feature
model. Training (through the cache or not), validation, inference and explanation all call it, so a record
is prepared the same way everywhere. :class:`PreparedSignals` holds many prepared records for training.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from tqdm.auto import tqdm

from . import beats, features, measurements, quality, signals
from .config import BeatConfig, RunConfig, SignalConfig
from .discovery import RecordIndex
from .records import (
    EVALUATED_LEAD_SETS,
    STANDARD_LEADS,
    Header,
    RecordError,
    check_plausible,
    check_recording,
    invalid_as_nan,
    read_record,
    standard_leads,
)

#: Records per worker task: large enough to hide the process pool's per-task cost, small enough that the
#: tasks in flight hold a few MB and a progress bar moves.
TASK_RECORDS = 32


@dataclass(frozen=True)
class PrepareOptions:
    """What decides a prepared record (and so the key of its cache): the signal settings, and whether R peaks
    with the hand-made features, and the measurements, are wanted."""

    signals: SignalConfig
    peaks: bool = False
    measurements: bool = False
    quality: bool = False  # each lead's signal quality (ecgnet.quality), for details.csv

    @classmethod
    def of(cls, config: RunConfig) -> PrepareOptions:
        """What the run ``config`` needs: peaks for beat sampling or the hand-made features, measurements for
        the feature model."""
        return cls(config.signals, config.beats.enabled or config.features.enabled, config.feature_model.enabled)


@dataclass(frozen=True)
class PreparedRecord:
    """A record ready for the network and the feature model."""

    signal: np.ndarray  # (12, samples) float32 at the model rate, band-passed and standardised
    lead_mask: np.ndarray  # (12,) bool: the slot holds a kept lead with a finite sample
    demographics: np.ndarray  # (4,) float32, see ecgnet.signals.demographics
    peaks: np.ndarray | None = None  # (P,) int64 R peaks at the model rate, with options.peaks
    features: np.ndarray | None = None  # (NUM_FEATURES,) float32 hand-made features, with options.peaks
    measurements: np.ndarray | None = None  # (lead sets, NUM_MEASUREMENTS) float32, with options.measurements
    quality: tuple[str, ...] | None = None  # a verdict per standard lead (ecgnet.quality), with options.quality
    record_id: str = ""  # the header's record name
    warnings: tuple[str, ...] = ()  # what is odd in the record but did not stop it (a checksum that disagrees)


def measured_lead_sets(leads: Sequence[str] | None) -> list[tuple[str, ...]]:
    """The lead sets a record is measured for: each evaluated lead set when all its leads are kept (training),
    else the kept leads alone (a model serving one lead set)."""
    return list(EVALUATED_LEAD_SETS) if leads is None else [standard_leads(leads)]


def prepare(recording: np.ndarray, header: Header, options: PrepareOptions, leads: Sequence[str] | None = None,
            source: str | os.PathLike = "<recording>") -> PreparedRecord:
    """Prepare a digital recording (rows in the header's order) with the leads in ``leads`` (every standard
    lead when None; the others are never looked at). The header and recording are checked first
    (:func:`ecgnet.records.check_plausible`), whoever read them; a :class:`RecordError` names ``source``.

    Samples holding their format's "no sample" value are missing (:func:`ecgnet.records.invalid_as_nan`), and
    short runs of missing samples are drawn in. A lead that holds no ECG (:func:`ecgnet.quality.usable`: flat,
    saturated, gapped, of an implausible amplitude) is read by nothing: it is absent for the network, the R
    peaks and the measurements alike. A record with no such lead left is refused, never diagnosed.
    """
    recording = np.asarray(recording)
    check_plausible(header, source)
    check_recording(recording, header, source)
    # Whoever read it (the Challenge's helper leaves -32768 in a format-16 recording), a "no sample" value is
    # missing, never a voltage.
    recording = quality.bridge(invalid_as_nan(recording, header), header.frequency)
    at_rate = signals.leads_at_rate(recording, header, options.signals.sample_rate, source, leads)
    verdicts = quality.lead_quality(at_rate, recording, header, options.signals.sample_rate, noise=options.quality)
    read = quality.usable(at_rate, verdicts)
    if not read.any():
        recorded = standard_leads(header.leads)
        wanted = recorded if leads is None else tuple(lead for lead in standard_leads(leads) if lead in recorded)
        raise RecordError(source, f"no ECG signal in any lead ({quality.describe_unusable(verdicts, wanted)})")
    at_rate = at_rate.keeping(read)
    signal, mask = signals.network_input(at_rate, options.signals)
    annotation = features.annotate(at_rate.usable(), options.signals.sample_rate) if options.peaks else None
    measured = None
    if options.measurements:
        kept_recording, kept_header = quality.usable_part(recording, header, verdicts)
        measured = measurements.measure(kept_recording, kept_header, measured_lead_sets(leads), source)
    return PreparedRecord(signal, mask, signals.demographics(header.age, header.sex),
                          None if annotation is None else annotation.peaks,
                          None if annotation is None else annotation.features, measured,
                          verdicts if options.quality else None, header.record_id)


def prepare_file(header_path: str | os.PathLike, options: PrepareOptions,
                 leads: Sequence[str] | None = None) -> PreparedRecord:
    """Read a record and :func:`prepare` it."""
    record = read_record(header_path)
    prepared = prepare(record.recording, record.header, options, leads, header_path)
    return dataclasses.replace(prepared, warnings=record.warnings) if record.warnings else prepared


def record_windows(prepared: PreparedRecord, keep_leads: Iterable[str], config: SignalConfig,
                   beat_config: BeatConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The inference windows of a prepared record restricted to ``keep_leads``: (W, 12, T) and the (12,) lead
    mask actually used. Sliding windows that cover the record, or, with beat sampling on, the record's
    deterministic groups of beats."""
    keep = np.isin(STANDARD_LEADS, standard_leads(keep_leads)) & np.asarray(prepared.lead_mask, dtype=bool)
    masked = np.where(keep[:, None], prepared.signal, 0.0).astype(np.float32)
    if beat_config is not None and beat_config.enabled:
        if prepared.peaks is None:
            raise ValueError("beat sampling needs the record's R peaks")
        return beats.beat_groups(masked, prepared.peaks, beat_config, config.sample_rate), keep
    return signals.sliding_windows(masked, config.window_samples, config.stride_samples), keep


# Many records at once: in parallel, for training and inference.
def _prepare_task(paths: Sequence[Path], options: PrepareOptions, leads: Sequence[str] | None
                  ) -> list[PreparedRecord | RecordError]:
    results: list[PreparedRecord | RecordError] = []
    for path in paths:
        try:
            results.append(prepare_file(path, options, leads))
        except RecordError as error:
            results.append(error)
        except Exception as error:  # a failure this code did not foresee still stops only its own record
            results.append(RecordError(path, f"could not be prepared ({type(error).__name__}: {error})"))
    return results


def prepare_many(paths: Sequence[Path], options: PrepareOptions, n_jobs: int = 1, progress: bool = True,
                 description: str = "preparing", leads: Sequence[str] | None = None,
                 ) -> Iterator[tuple[int, PreparedRecord | RecordError]]:
    """(row, prepared record or the error that stopped it) for every path, in order, prepared with ``leads``
    (see :func:`prepare`) in ``n_jobs`` processes (as joblib counts them; 1 prepares in this process) as the
    caller consumes them: memory stays flat."""
    size = max(1, min(TASK_RECORDS, math.ceil(len(paths) / (4 * effective_n_jobs(n_jobs)))))
    starts = range(0, len(paths), size)
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    tasks = parallel(delayed(_prepare_task)(paths[s : s + size], options, leads) for s in starts)
    with tqdm(total=len(paths), desc=description, unit="rec", disable=not progress) as bar:
        for start, results in zip(starts, tasks):
            yield from enumerate(results, start)
            bar.update(len(results))


@dataclass
class PreparedSignals:
    """Prepared records held together for training: signals (in memory, or a cache's store), lead masks,
    demographics, and as the run needs them R peaks, hand-made features and measurements."""

    signals: Sequence[np.ndarray]  # each (12, samples) float32 at the model rate: a list or a cache store
    lead_masks: np.ndarray  # (records, 12) bool
    demographics: np.ndarray  # (records, 4) float32
    peaks: Sequence[np.ndarray] | None = None  # each (P,) int64 sample indices at the model rate
    features: np.ndarray | None = None  # (records, NUM_FEATURES) float32
    measurements: np.ndarray | None = None  # (records, lead sets, NUM_MEASUREMENTS) float32

    def __len__(self) -> int:
        return len(self.lead_masks)

    def record(self, row: int) -> PreparedRecord:
        """The prepared record of one row."""
        return PreparedRecord(self.signals[row], self.lead_masks[row], self.demographics[row],
                              None if self.peaks is None else self.peaks[row],
                              None if self.features is None else self.features[row],
                              None if self.measurements is None else self.measurements[row])

    def subset(self, rows: Sequence[int] | np.ndarray) -> PreparedSignals:
        """The prepared records of some rows, in that order (signals and peaks are not copied)."""
        rows = np.asarray(rows, dtype=int)
        return PreparedSignals(_Rows(self.signals, rows), self.lead_masks[rows], self.demographics[rows],
                               None if self.peaks is None else _Rows(self.peaks, rows),
                               None if self.features is None else self.features[rows],
                               None if self.measurements is None else self.measurements[rows])


def collect(prepared: Sequence[PreparedRecord]) -> PreparedSignals:
    """Prepared records held together in memory."""
    if not prepared:
        return PreparedSignals([], np.zeros((0, len(STANDARD_LEADS)), bool), np.zeros((0, 4), np.float32))
    first = prepared[0]
    return PreparedSignals(
        [p.signal for p in prepared], np.stack([p.lead_mask for p in prepared]),
        np.stack([p.demographics for p in prepared]).astype(np.float32),
        None if first.peaks is None else [p.peaks for p in prepared],
        None if first.features is None else np.stack([p.features for p in prepared]),
        None if first.measurements is None else np.stack([p.measurements for p in prepared]))


def prepare_index(index: RecordIndex, options: PrepareOptions, n_jobs: int = 1, progress: bool = True
                  ) -> tuple[PreparedSignals, list[int], list[tuple[str, str]]]:
    """Prepare every indexed record in memory, in parallel. Returns the prepared records, the index rows they
    belong to, and (file, reason) for each record that could not be prepared."""
    kept, failures, prepared = [], [], []
    for row, result in prepare_many(index.header_paths, options, n_jobs, progress):
        if isinstance(result, RecordError):
            failures.append((result.source, result.problem))
        else:
            kept.append(row)
            prepared.append(result)
    return collect(prepared), kept, failures


def join_prepared(first: PreparedSignals, second: PreparedSignals) -> PreparedSignals:
    """The records of ``first`` then those of ``second`` (signals and peaks are not copied)."""
    def joined(a, b):
        return None if a is None or b is None else _Joined(a, b)

    def stacked(a, b):
        return None if a is None or b is None else np.concatenate([a, b])

    return PreparedSignals(_Joined(first.signals, second.signals),
                           np.concatenate([first.lead_masks, second.lead_masks]),
                           np.concatenate([first.demographics, second.demographics]),
                           joined(first.peaks, second.peaks), stacked(first.features, second.features),
                           stacked(first.measurements, second.measurements))


class _Joined(Sequence):
    """Two sequences of arrays, one after the other, read on demand."""

    def __init__(self, first: Sequence[np.ndarray], second: Sequence[np.ndarray]):
        self.first, self.second = first, second

    def __len__(self) -> int:
        return len(self.first) + len(self.second)

    def __getitem__(self, item: int) -> np.ndarray:
        item = int(item)
        return self.first[item] if item < len(self.first) else self.second[item - len(self.first)]

    def samples(self, item: int) -> int:
        item = int(item)
        if item < len(self.first):
            return record_length(self.first, item)
        return record_length(self.second, item - len(self.first))


class _Rows(Sequence):
    """Some rows of a sequence of signals, read on demand."""

    def __init__(self, signals: Sequence[np.ndarray], rows: np.ndarray):
        self.signals, self.rows = signals, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, item: int) -> np.ndarray:
        return self.signals[int(self.rows[item])]

    def samples(self, item: int) -> int:
        return record_length(self.signals, int(self.rows[item]))


def record_length(signals: Sequence[np.ndarray], row: int) -> int:
    """The length in samples of record ``row`` of a sequence of signals, without reading it when the sequence
    (a cache's store, or rows of one) can tell."""
    samples = getattr(signals, "samples", None)
    return samples(row) if samples is not None else signals[row].shape[-1]
