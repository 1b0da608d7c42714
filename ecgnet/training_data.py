"""The training records of a run: indexed, prepared once (through the cache or in memory) and split into folds.

:func:`load_training_data` is the one way a training run, distillation and the benchmarks get their records:
the labelled records of a folder (:func:`ecgnet.discovery.index_records`), the recipe's subset of them,
prepared by :func:`ecgnet.prepare.prepare` and the folds (stratified, or one per source).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from . import distributed, losses
from .cache import default_cache_dir, prepare_cached
from .config import RunConfig, TrainingConfig
from .data import (
    leave_source_out_folds,
    stratified_folds,
)
from .discovery import RecordIndex, index_records
from .folders import RECORDS, no_record_found
from .labels import ClassTable, default_class_table
from .prepare import PreparedSignals, PrepareOptions, prepare_index
from .records import EVALUATED_LEAD_SETS, lead_set_name

T = TypeVar("T")


@dataclass
class TrainingData:
    """Everything the folds share: the index, the prepared signals and the fold of each record."""

    index: RecordIndex
    prepared: PreparedSignals
    folds: np.ndarray
    fold_names: list[str]
    table: ClassTable
    # Records left out for having no scored label, and their sources: self-supervised pre-training uses those
    # of the fold's training sources too.
    unlabelled: PreparedSignals | None = None
    unlabelled_sources: list[str] | None = None

    def measurements_by_lead_set(self, rows: np.ndarray | None = None) -> dict[str, np.ndarray] | None:
        """The records' measurements (records, M) by lead-set name, of ``rows`` (all records when None); None
        when the run measures nothing (no feature model)."""
        values = self.prepared.measurements
        if values is None:
            return None
        values = values if rows is None else values[rows]
        return {lead_set_name(leads): values[:, j] for j, leads in enumerate(EVALUATED_LEAD_SETS)}


def _through_cache(config: RunConfig, cached: Callable[[Path, int], T], uncached: Callable[[int], T]) -> T:
    """``cached(cache_dir, n_jobs)``, built by the first process while the others wait and then open it,
    or with ``cache = false`` ``uncached(n_jobs)`` in memory."""
    settings = config.training
    n_jobs = max(1, settings.workers)
    if not settings.cache:
        return uncached(n_jobs)
    cache_dir = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    if not distributed.is_main():
        distributed.barrier()  # wait for rank 0 to build it, then open it
    result = cached(cache_dir, n_jobs)
    if distributed.is_main():
        distributed.barrier()
    return result


def prepare(index: RecordIndex, config: RunConfig, progress: bool
            ) -> tuple[PreparedSignals, list[int], list[tuple[str, str]]]:
    """The prepared records of ``index`` (:mod:`ecgnet.prepare`), from the disk cache or computed in memory."""
    options = PrepareOptions.of(config)
    return _through_cache(
        config, lambda folder, n_jobs: prepare_cached(index, options, folder, n_jobs=n_jobs, progress=progress),
        lambda n_jobs: prepare_index(index, options, n_jobs=n_jobs, progress=progress))


def check_trainable(index: RecordIndex, failures: list[tuple[str, str]], data_dir: str | os.PathLike) -> None:
    """Refuse, from the headers alone and before any record is prepared, a folder with no usable record or none
    with a scored label: preparing every record first (an hour for the full data) would only end in the same
    refusal, and the fix is another folder, not a longer wait."""
    if len(index) == 0 and not failures:
        raise ValueError(no_record_found(data_dir, "DATA_DIR"))
    if len(index) == 0:
        file, reason = failures[0]
        raise ValueError(f"no usable record in DATA_DIR '{data_dir}' ({len(failures)} files refused, e.g. {file}: "
                         f"{reason}): give {RECORDS}")
    if not index.labels.any():
        raise ValueError(f"DATA_DIR '{data_dir}': {len(index)} records found, none with a scored #Dx label (a "
                         "'# Dx:' header line with a SNOMED CT code of weights.csv): give labelled training records")


def chosen_rows(index: RecordIndex, settings: TrainingConfig) -> np.ndarray:
    """The rows a recipe trains on: all, or those with a scored label, at most ``max_records`` of them."""
    rows = np.arange(len(index))
    if not settings.use_unlabelled:
        rows = rows[index.labels.any(axis=1)]
    if settings.max_records is not None and len(rows) > settings.max_records:
        rows = np.sort(np.random.default_rng(settings.seed).choice(rows, settings.max_records, replace=False))
    return rows


def load_training_data(data_dir: str | os.PathLike, config: RunConfig, progress: bool = True,
                       log: Callable[[str], None] = print, exclude: Collection[str] = ()) -> TrainingData:
    """Index, filter and preprocess the records of ``data_dir`` and assign their folds; records whose id is in
    ``exclude`` (a held-out test set's) are left out."""
    settings = config.training
    table = default_class_table()
    index, failures = index_records(data_dir, table)
    for path, reason in failures:
        log(f"skipped {path}: {reason}")
    check_trainable(index, failures, data_dir)
    if exclude:
        excluded = set(exclude)
        index = index.subset([i for i, record_id in enumerate(index.record_ids) if record_id not in excluded])
    # Every record of the folder is prepared (and cached) once; the recipe's choice of records is made
    # afterwards, so that recipes choosing differently share one cache.
    prepared, kept, more_failures = prepare(index, config, progress)
    index = index.subset(kept)
    for path, reason in more_failures:
        log(f"skipped {path}: {reason}")
    if settings.source_table:
        index.sources = losses.record_sources(index.record_ids, losses.read_source_table(settings.source_table))
    chosen = chosen_rows(index, settings)
    unlabelled, unlabelled_sources = None, None
    if settings.pretrain_epochs and not settings.use_unlabelled:
        rows = np.flatnonzero(~index.labels.any(axis=1))
        unlabelled, unlabelled_sources = prepared.subset(rows), [index.sources[r] for r in rows]
    index, prepared = index.subset(chosen), prepared.subset(chosen)
    if len(index) == 0:
        raise ValueError(f"DATA_DIR '{data_dir}': no record with a scored label could be prepared (each one's reason "
                         "is above)")
    if settings.validation == "leave-source-out":
        folds, names = leave_source_out_folds(index.sources)
        if len(names) < 2:
            raise ValueError(f"{data_dir}: leave-source-out needs at least 2 sources, found {names}")
    else:
        folds = stratified_folds(index.labels, settings.folds, settings.seed)
        names = [f"fold{k}" for k in range(settings.folds)]
    log(f"{len(index)} records, {int(index.labels.any(axis=1).sum())} with a scored label, "
        f"{len(names)} folds ({settings.validation})")
    return TrainingData(index, prepared, folds, names, table, unlabelled, unlabelled_sources)
