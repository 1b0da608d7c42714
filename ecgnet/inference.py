"""Networks -> probabilities -> thresholds -> outputs.

:class:`Ensemble` holds the trained networks of a model folder. A record is preprocessed, cut into
overlapping windows that cover all of it (or, with beat sampling, into a fixed set of groups of its beats),
every window goes through every network (with the record's hand-made features when the model takes them),
and the probabilities are averaged over networks and windows. The one-record path (:func:`predict_record`)
and the batched folder path (:func:`run_folder`) share these steps, so they give the same numbers.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from .artifacts import ONNX_FILE, ONNX_INPUTS, ModelFolder, ModelFolderError, folder_file, load_model_folder
from .config import RunConfig
from .decision import FINAL, STACKED_OUTPUTS, Decision
from .discovery import SECOND_COPY, FoundRecord, find_records
from .outputs import (
    WARNING,
    failed_record_id,
    output_file,
    output_folder,
    record_failures,
    remove_stale_outputs,
    save_outputs,
    takes_a_table_name,
)
from .prepare import PreparedRecord, PrepareOptions, prepare, prepare_many, record_windows
from .records import Header, LeadSet, RecordError, lead_set_words, standard_leads

if TYPE_CHECKING:  # torch is imported only where networks run in it: ONNX Runtime runs without it
    import torch


@dataclass
class Ensemble:
    """The networks of a model folder and its decision stage (:mod:`ecgnet.decision`), which turns their
    probabilities into final outputs and labels. With ONNX Runtime (``onnx``) there are no torch networks
    and no torch device: torch is not even imported."""

    config: RunConfig
    networks: list[torch.nn.Module]
    decision: Decision
    device: torch.device | None
    batch_size: int = 64
    # The networks as one ONNX graph (ecgnet.export) in an ONNX Runtime session, used instead of ``networks``.
    onnx: Any = None

    @property
    def class_codes(self) -> list[str]:
        return self.decision.class_codes

    @property
    def on_gpu(self) -> bool:
        return self.device is not None and self.device.type == "cuda"

    def window_probabilities(self, windows: np.ndarray, masks: np.ndarray, demographics: np.ndarray,
                             extras: np.ndarray | None = None) -> np.ndarray:
        """Mean sigmoid over the networks for each window: (W, 12, T) -> (W, classes); ``extras`` (W, F)
        are the hand-made features of each window's record, for networks that take them."""
        out = np.empty((len(windows), len(self.class_codes)), dtype=np.float64)
        if self.onnx is not None:
            return self._onnx_probabilities(out, windows, masks, demographics, extras)
        import torch

        def tensor(values: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).to(self.device)

        with torch.inference_mode():
            for start in range(0, len(windows), self.batch_size):
                part = slice(start, start + self.batch_size)
                x, m, d = tensor(windows[part]), tensor(masks[part]), tensor(demographics[part])
                e = None if extras is None else tensor(extras[part])
                total = sum(torch.sigmoid(net(x, m, d, e).float()) for net in self.networks)
                out[part] = (total / len(self.networks)).cpu().numpy()
        return out

    def _onnx_probabilities(self, out: np.ndarray, *inputs: np.ndarray | None) -> np.ndarray:
        # Fed by name: the exporter drops an input the networks do not use (demographics, when they are off).
        taken = {entry.name for entry in self.onnx.get_inputs()}
        for start in range(0, len(out), self.batch_size):
            part = slice(start, start + self.batch_size)
            feed = {name: np.ascontiguousarray(values[part], dtype=np.float32)
                    for name, values in zip(ONNX_INPUTS, inputs) if values is not None and name in taken}
            out[part] = self.onnx.run(None, feed)[0]
        return out


RUNTIMES = ("torch", "onnxruntime")
#: Most processes that read and prepare records beside the networks.
MAX_WORKERS = 8


@dataclass(frozen=True)
class RunPath:
    """How a model folder's networks run and its records are prepared: the runtime, the worker processes."""

    runtime: str
    workers: int

    def describe(self, model_dir: str | os.PathLike) -> str:
        """One line saying which path was taken."""
        networks = (f"ONNX Runtime ({Path(model_dir) / ONNX_FILE})" if self.runtime == "onnxruntime"
                    else "torch")
        workers = (f"{self.workers} worker processes" if self.workers else "this process")
        return f"networks in {networks}; records read and prepared in {workers}"


def choose_path(model_dir: str | os.PathLike, device: str = "auto", runtime: str = "auto",
                workers: int | None = None) -> RunPath:
    """The fastest measured path for this machine, for what is not given (BENCHMARKS.md, "Inference"): on a CPU,
    ONNX Runtime when the folder holds its graph and onnxruntime is installed (1.3-1.4 times torch), with a
    worker per core (1.4-1.7 times none with ONNX Runtime; with torch on a CPU, workers slow it down); on a GPU,
    torch, with up to :data:`MAX_WORKERS` workers (it runs a record in 0.2 ms, preparing one takes 3.5 ms)."""
    gpu = device == "cuda" or (device == "auto" and _gpu_usable())
    if runtime == "auto":
        runtime = "onnxruntime" if not gpu and _onnx_usable(model_dir) else "torch"
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be auto or one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if workers is None:
        workers = min(MAX_WORKERS, os.cpu_count() or 1) if gpu or runtime == "onnxruntime" else 0
    return RunPath(runtime, workers)


def _onnx_usable(model_dir: str | os.PathLike) -> bool:
    return (Path(model_dir) / ONNX_FILE).is_file() and importlib.util.find_spec("onnxruntime") is not None


def _gpu_usable() -> bool:
    """Whether torch sees a GPU; torch is imported only where an NVIDIA driver is present (the ONNX path on a
    CPU machine never imports it)."""
    if not os.path.exists("/dev/nvidiactl"):
        return False
    import torch

    return torch.cuda.is_available()


def load_ensemble(model_dir: str | os.PathLike, device: str = "auto", runtime: str = "torch") -> Ensemble:
    """Build the ensemble of a model folder once; raises ModelFolderError naming the bad file. With ``runtime``
    ``onnxruntime`` the networks run as the folder's ONNX graph (``ecgnet export`` writes it) on the CPU."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    folder = load_model_folder(model_dir, weights=runtime == "torch")  # the ONNX graph holds its own weights
    torch_device, networks = _torch_networks(folder, model_dir, device) if runtime == "torch" else (None, [])
    stacked = folder.decision.stacked
    if folder.config.feature_model.enabled != stacked:
        raise ModelFolderError(f"{Path(model_dir) / 'model.json'}: the recipe in config.json "
                               f"{'has' if folder.config.feature_model.enabled else 'has no'} feature model, "
                               f"but the folder {'has a' if stacked else 'has no'} stack")
    # A GPU is only busy with large batches; on a CPU, 64 windows already amortise the per-call overhead.
    batch_size = 1024 if torch_device is not None and torch_device.type == "cuda" else 64
    session = _onnx_session(model_dir, folder) if runtime == "onnxruntime" else None
    return Ensemble(folder.config, networks, folder.decision, torch_device, batch_size, session)


def _torch_networks(folder: ModelFolder, model_dir: str | os.PathLike, device: str
                    ) -> tuple[torch.device, list[torch.nn.Module]]:
    """The device, and the folder's networks on it in evaluation mode. Each weight file is compared with the
    network config.json describes, built first on the meta device: a network that does not fit its weights is
    never allocated (its size is bounded by theirs), and the error names the file and the tensors."""
    from .artifacts import one_line, state_dict_problems
    from .device import resolve_device  # torch is imported only when the networks run in it
    from .network import build_network, network_shapes

    torch_device = resolve_device(device)
    try:
        expected = network_shapes(folder.config, len(folder.class_codes))
    except ValueError as error:  # the architecture refuses its hyper-parameters
        raise ModelFolderError(one_line(f"{Path(model_dir) / 'config.json'}: {error}")) from None
    networks = []
    for k, state in enumerate(folder.state_dicts):
        path = folder.weight_files[k] if folder.weight_files else Path(model_dir)
        problems = state_dict_problems(state, expected)
        if problems:
            raise ModelFolderError(one_line(f"{path}: weights do not fit the network config.json describes: "
                                            f"{problems}"))
        network = build_network(folder.config, len(folder.class_codes))
        try:
            network.load_state_dict(state)
        except RuntimeError as error:  # anything the comparison of names and shapes cannot see
            raise ModelFolderError(one_line(f"{path}: weights do not fit the network config.json describes: "
                                            f"{error}")) from None
        networks.append(network.to(torch_device).eval())
    return torch_device, networks


def _onnx_session(model_dir: str | os.PathLike, folder: ModelFolder):
    """An ONNX Runtime session of the folder's ``ensemble.onnx``; ModelFolderError when there is none, or when
    its inputs and output are not those ``folder``'s config and classes give (config.json changed since
    ``ecgnet export``)."""
    from .artifacts import check_onnx_graph

    path = folder_file(model_dir, ONNX_FILE)
    if not path.is_file():
        raise ModelFolderError(f"{Path(model_dir) / ONNX_FILE}: missing; write it with `ecgnet export {model_dir}`")
    import onnxruntime

    try:
        options = onnxruntime.SessionOptions()
        # Between batches the runtime's threads would spin, waiting for work, on the cores the loader
        # workers prepare records on.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own types for damaged graphs
        raise ModelFolderError(f"{path}: not a readable ONNX graph ({' '.join(str(error).split())[:200]})") from None
    check_onnx_graph(session, folder.config, len(folder.class_codes), Path(model_dir) / ONNX_FILE)
    return session


@dataclass
class ModelInput:
    """What the ensemble takes for one record: its windows, and what goes with them."""

    record_id: str
    windows: np.ndarray  # (W, 12, T)
    lead_mask: np.ndarray  # (12,)
    demographics: np.ndarray  # (4,)
    features: np.ndarray | None = None  # (NUM_FEATURES,) hand-made features, when the model takes them
    lead_set: LeadSet = LeadSet(())  # the leads it was prepared with
    measurements: np.ndarray | None = None  # (NUM_MEASUREMENTS,) for the feature model, when the model has one
    quality: tuple[str, ...] | None = None  # a verdict per standard lead, when asked for (details.csv)
    warnings: tuple[str, ...] = ()  # what is odd in the record but did not stop it (ecgnet.prepare)


def model_input(prepared: PreparedRecord, leads: Sequence[str], config: RunConfig, record_id: str) -> ModelInput:
    """The windows (or beat groups) of a record prepared with ``leads``, and what goes with them."""
    windows, keep = record_windows(prepared, leads, config.signals, config.beats)
    extra = prepared.features if config.features.enabled else None
    # Measurements serve a record prepared for one lead set (a training record is measured for each evaluated set).
    one_set = prepared.measurements is not None and len(prepared.measurements) == 1
    measured = prepared.measurements[0] if one_set else None
    return ModelInput(record_id, windows, keep, prepared.demographics, extra, LeadSet.of(leads), measured,
                      prepared.quality, prepared.warnings)


def record_input(recording: np.ndarray, header: Header, leads: Sequence[str], config: RunConfig,
                 source: str | os.PathLike, quality: bool = False) -> ModelInput:
    """Prepare a record with its leads among ``leads`` (:func:`ecgnet.prepare.prepare`; with ``quality``, each
    lead's signal quality too) and cut it into windows."""
    options = dataclasses.replace(PrepareOptions.of(config), quality=quality)
    prepared = prepare(recording, header, options, leads, source)
    return model_input(prepared, leads, config, header.record_id)


def combine_windows(window_probabilities: np.ndarray) -> np.ndarray:
    """One record's probabilities from those of its windows: their mean."""
    return window_probabilities.mean(axis=0)


def predict_prepared(ensemble: Ensemble, records: Sequence[ModelInput]) -> np.ndarray:
    """Final probabilities (records, classes) for prepared records (the networks', or with a stack the
    stack's), all their windows in shared batches."""
    return predict_components(ensemble, records)["final"]


def predict_components(ensemble: Ensemble, records: Sequence[ModelInput]) -> dict[str, np.ndarray]:
    """Probabilities (records, classes) for prepared records, by :meth:`ecgnet.decision.LeadSetDecision.combine`:
    ``final``, and with a stack ``network`` and ``features``; each record combined for its own lead set."""
    return combine_components(ensemble, records, _network_probabilities(ensemble, records))


def combine_components(ensemble: Ensemble, records: Sequence[ModelInput], network: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`predict_components` from the networks' probabilities (records, classes) of ``records``, however
    they were obtained (all networks and windows, or one network or one window alone)."""
    names = STACKED_OUTPUTS if ensemble.decision.stacked else (FINAL,)
    out = {name: np.zeros_like(network) for name in names}
    for lead_set in dict.fromkeys(r.lead_set for r in records):
        rows = [i for i, r in enumerate(records) if r.lead_set == lead_set]
        measured = [records[i].measurements for i in rows]
        combined = ensemble.decision.for_lead_set(lead_set).combine(
            network[rows], np.stack(measured) if ensemble.decision.stacked else None,
            np.stack([records[i].demographics for i in rows]))
        for name, values in combined.items():
            out[name][rows] = values
    return out


def _network_probabilities(ensemble: Ensemble, records: Sequence[ModelInput]) -> np.ndarray:
    """The networks' probabilities (records, classes), all windows in shared batches."""
    if not records:
        return np.zeros((0, len(ensemble.class_codes)))
    inputs, bounds = window_batch(records)
    return per_record(ensemble.window_probabilities(*inputs), bounds, combine_windows)


def window_batch(records: Sequence[ModelInput]) -> tuple[tuple[np.ndarray | None, ...], np.ndarray]:
    """Every window of ``records`` as one batch, (windows, masks, demographics, extras or None), and the
    bounds of each record's windows in it (records + 1,)."""
    counts = [len(r.windows) for r in records]

    def repeated(values: list[np.ndarray]) -> np.ndarray:
        return np.repeat(np.stack(values), counts, axis=0)

    extras = None if records[0].features is None else repeated([r.features for r in records])
    inputs = (np.concatenate([r.windows for r in records]), repeated([r.lead_mask for r in records]),
              repeated([r.demographics for r in records]), extras)
    return inputs, np.cumsum([0, *counts])


def per_record(window_values: np.ndarray, bounds: np.ndarray, reduce) -> np.ndarray:
    """``reduce`` (over axis 0) of each record's rows of ``window_values``, stacked: (records, ...)."""
    return np.stack([reduce(window_values[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])


def predict_record(
    ensemble: Ensemble, recording: np.ndarray, header: Header, leads: Sequence[str], source: str = "recording"
) -> np.ndarray:
    """Probabilities (classes,) for one record."""
    return predict_prepared(ensemble, [record_input(recording, header, leads, ensemble.config, source)])[0]


# The folder runner used by run_model.py.


def group_by_lead_set(found: Sequence[FoundRecord]) -> tuple[dict[LeadSet, list], list[tuple[str, str]]]:
    """Header files grouped by the standard leads their headers list; (file, reason) for those with none, and
    for those whose output file would take the name of one of the run's own tables."""
    groups: dict[tuple[str, ...], list] = {}
    failures = []
    for record in found:
        leads = standard_leads(record.header.leads)
        if not leads:
            failures.append((str(record.header_path), f"lists no standard lead ({', '.join(record.header.leads)})"))
        elif takes_a_table_name(record.record_id):
            failures.append((str(record.header_path), f"its output file would be the run's own {record.record_id}.csv; "
                                                      "rename the record to have it run"))
        else:
            groups.setdefault(LeadSet(leads), []).append(record.header_path)
    return groups, failures


def prepared_batches(paths: Sequence[Path], leads: Sequence[str], config: RunConfig, workers: int,
                     records_per_batch: int, quality: bool = False) -> Iterator[list]:
    """Lists of (path, ModelInput or RecordError) in the order of ``paths``, read and prepared in ``workers``
    processes (none: in this one) by :func:`ecgnet.prepare.prepare_many`."""
    options = dataclasses.replace(PrepareOptions.of(config), quality=quality)
    batch: list = []
    for row, result in prepare_many(paths, options, max(1, workers), progress=False, leads=leads):
        record = result if isinstance(result, RecordError) else model_input(result, leads, config, result.record_id)
        batch.append((paths[row], record))
        if len(batch) == records_per_batch:
            yield batch
            batch = []
    if batch:
        yield batch


def run_folder(
    model_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    device: str = "auto",
    workers: int | None = None,
    records_per_batch: int | None = None,
    progress: bool = True,
    runtime: str = "torch",
    details: bool = False,
    lead_set: Sequence[str] | None = None,
) -> tuple[int, list[tuple[str, str]]]:
    """Write an output file for every readable record of ``data_dir``; return (written, rows): a (file, reason)
    row for each file that could not be run, then one for each warning about a record that was run all the same
    (its reason starts with :data:`ecgnet.outputs.WARNING`).

    The ensemble is built once; records are grouped by lead set, each group gets the thresholds tuned
    for its leads, and its records are read and prepared in ``workers`` processes while the networks run (by
    default none on a CPU and up to 8 on a GPU). The rows, less the second copies of records (no failures), are
    also written to ``OUTPUTS/failures.csv``; with ``details``, ``OUTPUTS/details.csv`` too
    (:mod:`ecgnet.details`). A record that fails loses the output file an earlier run left for it, so that no
    stale output is ever scored. With ``lead_set``, only the records of exactly those leads are run
    (:func:`ecgnet.discovery.find_records`): one lead set of a reduced-lead tree.

    The records are found and the model loaded before the output folder is created: a refused run leaves none.
    """
    listing = find_records(data_dir, lead_set)
    if lead_set is not None and not listing.records and listing.other_lead_sets:
        raise ValueError(no_record_of_lead_set(data_dir, lead_set, listing.other_lead_sets))
    groups, failures = group_by_lead_set(listing.records)
    failures = listing.failures + failures
    ensemble = load_ensemble(model_dir, device, runtime)
    output_dir = output_folder(output_dir)
    found_failed = (failed_record_id(file, reason) for file, reason in failures)
    warnings = remove_stale_outputs(output_dir, {record_id for record_id in found_failed if record_id})
    records_per_batch = records_per_batch or ensemble.batch_size // 2
    if workers is None:  # a GPU runs a record in 0.2 ms, reading and preparing it takes about 3.5 ms
        workers = min(8, os.cpu_count() or 1) if ensemble.on_gpu else 0
    written = 0
    total = sum(len(v) for v in groups.values())
    bar = tqdm(total=total, desc="running", unit="rec", disable=not progress)
    found_details: list[dict[str, str]] = []
    for leads, paths in groups.items():
        decision = ensemble.decision.for_lead_set(leads)
        for batch in prepared_batches(paths, leads, ensemble.config, workers, records_per_batch, quality=details):
            ok = [(p, r) for p, r in batch if not isinstance(r, RecordError)]
            failed = [(p, r) for p, r in batch if isinstance(r, RecordError)]
            failures += [(r.source, r.problem) for _, r in failed]
            warnings += remove_stale_outputs(output_dir, [p.stem for p, _ in failed])
            warnings += [(str(p), f"{WARNING}{w}; the record was run") for p, r in ok for w in r.warnings]
            probabilities = predict_prepared(ensemble, [r for _, r in ok])
            for (path, _), p in zip(ok, probabilities):
                save_outputs(output_file(output_dir, path.stem), path.stem, ensemble.class_codes,
                             decision.decide(p).astype(int), p)
            if details and ok:
                found_details += _details_rows(ensemble, [r for _, r in ok], probabilities, decision.thresholds)
            written += len(ok)
            bar.update(len(batch))
    bar.close()
    # A second copy of a record (a reduced-lead tree holds each at several lead sets) runs from its other copy:
    # returned, for the caller to count as skipped, but no failure.
    record_failures(output_dir, data_dir, [row for row in failures + warnings if not row[1].startswith(SECOND_COPY)])
    if details:
        from . import details as _details

        _details.write(output_dir, ensemble.class_codes, found_details)
    return written, failures + warnings


def no_record_of_lead_set(data_dir: str | os.PathLike, lead_set: Sequence[str], others: dict[str, int]) -> str:
    """The message for a folder whose records (``others``: how many of each lead set) are all of other lead sets
    than the one asked for."""
    held = "; ".join(f"{count} records of {lead_set_words(leads.split(','))}" for leads, count in others.items())
    return (f"DATA_DIR '{data_dir}' holds no record of {lead_set_words(lead_set)}, but {held}: choose one of "
            "these lead sets with --lead-set")


def uncertainty_spreads(ensemble: Ensemble, records: Sequence[ModelInput]) -> tuple[np.ndarray, np.ndarray]:
    """(across networks, across windows): per record and class, the standard deviation of the final outputs
    (through the stack and the calibration, where the decision is taken) that each network alone would give
    the record, and of those each of its windows alone would give. Each network runs once; across networks is
    NaN when they run as one ONNX graph (they cannot be told apart there)."""
    inputs, bounds = window_batch(records)
    by_window = [records[i] for i in np.repeat(np.arange(len(records)), np.diff(bounds))]  # each window's record

    def across_windows(window_network: np.ndarray) -> np.ndarray:
        window_final = combine_components(ensemble, by_window, window_network)["final"]
        return per_record(window_final, bounds, lambda values: values.std(axis=0))

    if not ensemble.networks:
        windows = across_windows(ensemble.window_probabilities(*inputs))
        return np.full_like(windows, np.nan), windows
    each = np.stack([dataclasses.replace(ensemble, networks=[network]).window_probabilities(*inputs)
                     for network in ensemble.networks])  # (networks, windows, classes)
    finals = [combine_components(ensemble, records, per_record(values, bounds, combine_windows))["final"]
              for values in each]
    return np.std(finals, axis=0), across_windows(each.mean(axis=0))


def _details_rows(ensemble: Ensemble, records: list[ModelInput], probabilities: np.ndarray,
                  thresholds: np.ndarray) -> list[dict[str, str]]:
    from . import details as _details
    from .labels import default_class_table

    across_networks, across_windows = uncertainty_spreads(ensemble, records)
    uncertainty = np.fmax(across_networks, across_windows)
    table = default_class_table()
    abbreviations = [table.classes[table.index_of(code)].abbreviation if table.index_of(code) is not None else code
                     for code in ensemble.class_codes]
    return _details.rows(records, probabilities, thresholds, uncertainty, ensemble.class_codes, abbreviations)
