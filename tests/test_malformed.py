"""The malformed corpus of :mod:`malformed` against run_model.py, the Challenge entry points and the evaluator.

One folder mixes good records of every kind with every malformed category. run_model.py must finish it with
exit status 0 and no traceback, write every good record's output exactly as a run on the good records alone
does, and name every bad record in ``failures.csv``, once. Through ``team_code.py`` a good record gets the same
output and a bad one a ValueError naming it. Runs are capped in memory, so a resampler asked for billions
of samples fails fast instead of taking the machine down.

The other registries of :mod:`malformed` have tests of their own below: records that run with a warning or
may be refused, records named like the run's own files (each in a run of its own), a rerun after a record
breaks, named pipes (with a short timeout), the Challenge's Python API, and damaged model folders.
"""

from __future__ import annotations

import csv
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import NamedTuple

import numpy as np
import pytest
import torch
from conftest import REPO, tiny_config
from malformed import (
    API_READS,
    API_REFUSALS,
    CATEGORIES,
    DUPLICATE_ID,
    FOLDER_ONLY,
    HAZARDS,
    MODEL_DAMAGE,
    ODD_BUT_GOOD,
    OWN_RUN,
    READ_OR_REFUSED,
    REFUSABLE,
    REGISTRIES,
    RERUNS,
    WARNED,
    GoodRecords,
    write_bad_records,
    write_good,
    write_good_records,
)

import helper_code
import team_code
from ecgnet.outputs import is_positive, read_outputs
from ecgnet.records import LEAD_SETS, standard_leads

# wfdb.wrsamp calls a pandas method that pandas deprecates: noise, not a finding.
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:The inplace keyword:Warning")]

TIMEOUT_S = 300
HAZARD_TIMEOUT_S = 90  # a run over a few records and named pipes: far more than it needs, far less than a hang
SUBPROCESS_MEMORY = 8 << 30  # address space of a run_model.py process (it needs about 2 GiB)
IN_PROCESS_HEADROOM = 4 << 30  # address space the entry points may add to this process's
# One compute thread per process: on 2 shared cores, idle threads spin-waiting for work made training and
# inference 10-20 times slower whenever another process was busy.
THREADS = 1
TOLERANCE = 1e-6 + 1e-12  # output files hold 6 significant digits; the epsilon absorbs decimal rounding
RECORD_CATEGORIES = [name for name in CATEGORIES if name not in FOLDER_ONLY]


class Output(NamedTuple):
    """One record's classes, binary labels and probabilities."""

    classes: tuple[str, ...]
    labels: tuple[bool, ...]
    probabilities: np.ndarray


@dataclass(frozen=True)
class Run:
    """A finished ``run_model.py MODEL DATA OUTPUTS``."""

    outputs: Path
    returncode: int
    stderr: str

    def status(self) -> str:
        """The exit status and the end of stderr, for failure messages."""
        return f"exit status {self.returncode}; stderr ends: {self.stderr[-2000:]}"

    def failures(self) -> list[tuple[str, str]]:
        """The (file, reason) rows of ``failures.csv``."""
        return _failure_rows(self.outputs / "failures.csv", self)

    def output(self, record_id: str) -> Output:
        """The output file of ``record_id``."""
        path = self.outputs / f"{record_id}.csv"
        assert path.is_file(), f"no output for {record_id} ({self.status()})"
        _, classes, labels, probabilities = read_outputs(path)
        return Output(classes, tuple(map(is_positive, labels)), np.array([float(p) for p in probabilities]))


@dataclass(frozen=True)
class Corpus:
    """A folder of records and run_model.py's run over it."""

    folder: Path
    good: GoodRecords
    bad: dict[str, list[str]]  # category -> names that must be reported
    run: Run
    warned: dict[str, tuple[str, str]]  # WARNED category -> (record, reference)
    either: dict[str, tuple[str, str]]  # READ_OR_REFUSED category -> (record, reference)

    @property
    def references(self) -> list[str]:
        """The references of the warned and the read-or-refused records: good records."""
        return [reference for _, reference in (*self.warned.values(), *self.either.values())]


# ----------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------


def _limit_address_space(limit: int) -> None:
    """Set this process's soft address-space limit to ``limit`` bytes (at most the hard limit), so that a
    runaway allocation raises MemoryError instead of exhausting the machine."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)  # RLIM_INFINITY is -1: min() would pick it
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def _limit_subprocess_memory() -> None:
    """In a child process, before it runs the script: cap its address space."""
    _limit_address_space(SUBPROCESS_MEMORY)


def _script(*args: object, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run a script of the repository root with this interpreter, memory-capped and timed."""
    command = [sys.executable, *map(str, args)]
    environment = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}
    try:
        return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, encoding="utf-8",
                              errors="replace", timeout=timeout, preexec_fn=_limit_subprocess_memory)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(command)} did not finish in {timeout} s")


def _address_space() -> int:
    """This process's virtual memory size in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


@contextmanager
def _memory_cap(headroom: int = IN_PROCESS_HEADROOM) -> Iterator[None]:
    """Cap this process's address space at its current size plus ``headroom`` while the block runs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    _limit_address_space(_address_space() + headroom)
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _failure_rows(path: Path, run: Run) -> list[tuple[str, str]]:
    """The (file, reason) rows of the failure table ``path`` that ``run`` wrote."""
    assert path.is_file(), f"run_model.py wrote no {path.name} ({run.status()})"
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        rows = list(csv.reader(handle))
    assert rows and rows[0] == ["file", "reason"], f"{path.name} starts with {rows[:1]}, not file,reason"
    assert all(len(row) == 2 for row in rows[1:]), f"{path.name} has rows without two fields: {rows[1:]}"
    return [(file, reason) for file, reason in rows[1:]]


def _tables(outputs: Path) -> dict[str, list[Path]]:
    """The run's own tables in ``outputs`` (and below it), wherever a run put them, by their first row: the
    failure tables (``file,reason``) and the details tables (``record,leads,...``). An output file starts with
    ``#record``, so it is neither."""
    tables: dict[str, list[Path]] = {"failures": [], "details": []}
    for path in sorted(outputs.rglob("*.csv")):
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            first = next(csv.reader(handle), [])
        if first == ["file", "reason"]:
            tables["failures"].append(path)
        elif first[:2] == ["record", "leads"]:
            tables["details"].append(path)
    return tables


def _corpus(folder: Path, model_dir: Path, outputs: Path, mixed: bool) -> Corpus:
    """Write the good records (and with ``mixed`` every malformed category, and the warned and the read or
    refused records with their references) into ``folder`` and run it."""
    good = write_good_records(folder)
    bad = write_bad_records(folder) if mixed else {}
    warned = {name: writer(folder) for name, writer in WARNED.items()} if mixed else {}
    either = {name: writer(folder) for name, writer in READ_OR_REFUSED.items()} if mixed else {}
    result = _script("run_model.py", model_dir, folder, outputs)
    return Corpus(folder, good, bad, Run(outputs, result.returncode, result.stderr), warned, either)


def _names(file: str, name: str) -> bool:
    """Whether a ``failures.csv`` file entry names record ``name``: some part of its path is the name, with
    or without an extension (a newline in the name may be written escaped)."""
    spellings = {name, name.encode("unicode_escape").decode("ascii")}
    parts = PurePath(file.strip().strip("'\"")).parts
    return any(part in spellings or part.rsplit(".", 1)[0] in spellings for part in parts)


def _difference(got: Output, expected: Output) -> str | None:
    """None when two outputs agree (same classes and labels, probabilities within TOLERANCE), else how not."""
    if got.classes != expected.classes:
        return f"classes {got.classes} != {expected.classes}"
    if got.labels != expected.labels:
        return f"labels {got.labels} != {expected.labels}"
    gap = float(np.max(np.abs(got.probabilities - expected.probabilities), initial=0.0))
    if not gap <= TOLERANCE:
        return f"probabilities differ by up to {gap:.3g}"
    return None


def _outcome(call) -> Output | str:
    """What ``call()`` gives: its output, or the exception it raised, as text."""
    try:
        return call()
    except Exception as error:  # any exception is an outcome to report
        return f"{type(error).__name__}: {error}"


def _signal_file(header_file: Path) -> Path:
    """The signal file a harness would pass for a header: its ``.dat`` if there is one, else its ``.mat``."""
    dat = header_file.with_suffix(".dat")
    return dat if dat.exists() else header_file.with_suffix(".mat")


def _entry_points(model_dir: Path, header_file: Path, leads: Sequence[str] | None = None) -> Output:
    """One record through helper_code's readers and team_code's load_model and run_model, as a harness
    calls them; ``leads`` defaults to the standard leads the header lists."""
    header = helper_code.load_header(str(header_file))
    recording = helper_code.load_recording(str(_signal_file(header_file)), header)
    leads = standard_leads(helper_code.get_leads(header)) if leads is None else leads
    model = team_code.load_model(str(model_dir), leads)
    classes, labels, probabilities = team_code.run_model(model, header, recording)
    return Output(tuple(classes), tuple(bool(x) for x in labels), np.asarray(probabilities, dtype=np.float64))


# ----------------------------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _few_threads() -> Iterator[None]:
    """torch computes on THREADS threads while this module runs (see THREADS)."""
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny network with the feature model and the stack, trained on 40 synthetic records."""
    from ecgnet.synthetic import generate_dataset
    from ecgnet.training import train

    data = tmp_path_factory.mktemp("synthetic")
    generate_dataset(data, 40, seed=0, progress=False)
    config = tiny_config(epochs=1, folds=2).override("feature_model", enabled=True, max_iter=10)
    model = tmp_path_factory.mktemp("model")
    train(data, model, config, progress=False, log=lambda _: None)
    return model


@pytest.fixture(scope="module")
def clean(tmp_path_factory, model_dir) -> Corpus:
    """The good records alone, and their run."""
    root = tmp_path_factory.mktemp("clean")
    return _corpus(root / "data", model_dir, root / "outputs", mixed=False)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, model_dir) -> Corpus:
    """The good records and every malformed category in one folder, and their run."""
    root = tmp_path_factory.mktemp("mixed")
    return _corpus(root / "data", model_dir, root / "outputs", mixed=True)


# ----------------------------------------------------------------------------------------------------------
# The corpus
# ----------------------------------------------------------------------------------------------------------


def test_the_registry_has_at_least_40_documented_categories():
    assert len(CATEGORIES) >= 40, sorted(CATEGORIES)
    assert FOLDER_ONLY <= set(CATEGORIES)
    assert REFUSABLE <= set(OWN_RUN)
    for registry, entries in REGISTRIES.items():
        for name, writer in entries.items():
            doc = (writer.__doc__ or "").strip()
            assert doc and "\n" not in doc, f"{registry} entry {name} needs a one-line docstring"


def test_no_name_is_in_two_registries():
    names = [name for entries in REGISTRIES.values() for name in entries]
    assert len(names) == len(set(names)), sorted(name for name in names if names.count(name) > 1)


# ----------------------------------------------------------------------------------------------------------
# run_model.py
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("corpus", ["clean", "mixed"])
def test_run_model_exits_0_without_a_traceback(corpus, request):
    run = request.getfixturevalue(corpus).run
    assert run.returncode == 0, run.stderr[-4000:]
    assert "Traceback" not in run.stderr, run.stderr[-4000:]


def test_clean_run_reports_no_failure(clean):
    assert clean.run.failures() == []


def test_failures_csv_has_a_one_line_reason_per_row(mixed):
    failures = mixed.run.failures()
    assert failures
    for file, reason in failures:
        assert file.strip() and reason.strip(), (file, reason)
        assert "\n" not in reason and "\r" not in reason, (file, reason)


@pytest.mark.parametrize("category", list(CATEGORIES))
def test_run_model_names_the_bad_record_in_failures_csv(mixed, category):
    failures = mixed.run.failures()
    for name in mixed.bad[category]:
        rows = [row for row in failures if _names(row[0], name)]
        if name == DUPLICATE_ID:  # one copy runs, the other is skipped (on stderr), not a failure
            assert not rows, f"{name!r}'s second copy is no failure, got {rows}"
            assert "skipped" in mixed.run.stderr and name in mixed.run.stderr, mixed.run.status()
            assert (mixed.run.outputs / f"{name}.csv").is_file(), f"one copy of {name!r} should get an output"
        else:
            assert rows, f"{name!r} ({CATEGORIES[category].__doc__}) is not named in failures.csv"


@pytest.mark.parametrize("category", RECORD_CATEGORIES)
def test_a_bad_record_is_reported_once(mixed, category):
    """One row per bad record: a header that does not parse is not reported again as a signal file that no
    header names."""
    failures = mixed.run.failures()
    for name in mixed.bad[category]:
        rows = [row for row in failures if _names(row[0], name)]
        assert len(rows) == 1, f"{name!r} ({CATEGORIES[category].__doc__}) should be named once, got {rows}"


def test_no_good_record_is_reported(mixed):
    failures = mixed.run.failures()
    good = [*mixed.good.ids, *mixed.references]
    reported = [(record_id, row) for record_id in good for row in failures if _names(row[0], record_id)]
    assert not reported


@pytest.mark.parametrize("corpus", ["clean", "mixed"])
def test_every_good_record_has_an_output_file(corpus, request):
    records: Corpus = request.getfixturevalue(corpus)
    missing = [record_id for record_id in records.good.ids if not (records.run.outputs / f"{record_id}.csv").is_file()]
    assert not missing, records.run.status()


def test_every_good_record_gets_the_output_it_gets_alone(clean, mixed):
    assert mixed.good == clean.good
    different = {}
    for record_id in clean.good.ids:
        difference = _difference(mixed.run.output(record_id), clean.run.output(record_id))
        if difference:
            different[record_id] = difference
    assert not different


@pytest.mark.parametrize("corpus", ["clean", "mixed"])
def test_dat_and_mat_copies_of_a_record_agree(corpus, request):
    records: Corpus = request.getfixturevalue(corpus)
    dat, mat = records.good.twins
    assert _difference(records.run.output(dat), records.run.output(mat)) is None


@pytest.mark.parametrize("odd", list(ODD_BUT_GOOD))
def test_odd_but_good_record_equals_its_reference(mixed, odd):
    reference = mixed.good.odd[odd]
    assert _difference(mixed.run.output(odd), mixed.run.output(reference)) is None, ODD_BUT_GOOD[odd].__doc__


@pytest.mark.parametrize("category", list(WARNED))
def test_warned_record_runs_and_a_row_names_it(mixed, category):
    record, reference = mixed.warned[category]
    difference = _difference(mixed.run.output(record), mixed.run.output(reference))
    assert difference is None, f"{WARNED[category].__doc__}: {difference}"
    rows = [row for row in mixed.run.failures() if _names(row[0], record)]
    assert rows, f"no row of failures.csv warns of {record!r} ({WARNED[category].__doc__})"


@pytest.mark.parametrize("category", list(READ_OR_REFUSED))
def test_record_is_read_exactly_or_refused(mixed, category):
    record, reference = mixed.either[category]
    rows = [row for row in mixed.run.failures() if _names(row[0], record)]
    output = mixed.run.outputs / f"{record}.csv"
    if rows:
        assert not output.exists(), f"{record!r} is reported ({rows}) but has an output too"
    else:
        difference = _difference(mixed.run.output(record), mixed.run.output(reference))
        assert difference is None, f"{READ_OR_REFUSED[category].__doc__}: {difference}"


@pytest.mark.parametrize("corpus", ["clean", "mixed"])
def test_the_evaluator_reads_the_outputs(corpus, clean, request):
    run = request.getfixturevalue(corpus).run
    result = _script("evaluate_model.py", clean.folder, run.outputs)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Traceback" not in result.stderr


# ----------------------------------------------------------------------------------------------------------
# The Python entry points of team_code.py
# ----------------------------------------------------------------------------------------------------------


def test_entry_points_match_run_model_on_good_records(clean, model_dir):
    """Every good record with a signal file of its own name (.mat or .dat), odd-but-good ones included."""
    headers = sorted(h for h in clean.folder.rglob("*.hea") if _signal_file(h).is_file())
    assert {h.stem for h in headers} >= set(clean.good.challenge) | set(clean.good.wfdb)
    different = {}
    for header_file in headers:
        got = _outcome(lambda header_file=header_file: _entry_points(model_dir, header_file))
        expected = _outcome(lambda header_file=header_file: clean.run.output(header_file.stem))
        difference = f"{got} / {expected}" if isinstance(got, str) or isinstance(expected, str) else \
            _difference(got, expected)
        if difference:
            different[header_file.stem] = difference
    assert not different


@pytest.mark.parametrize("category", RECORD_CATEGORIES)
def test_entry_points_reject_the_bad_record_by_name(category, model_dir, tmp_path):
    """A ValueError naming the record; any other exception (ZeroDivisionError, MemoryError, IndexError, ...)
    propagates and fails the test."""
    for name in CATEGORIES[category](tmp_path):
        with _memory_cap(), pytest.raises(ValueError) as raised:
            _entry_points(model_dir, tmp_path / f"{name}.hea", LEAD_SETS[12])
        assert name in str(raised.value), f"the error does not name {name!r}: {raised.value}"


@pytest.mark.parametrize("category", list(WARNED))
def test_entry_points_run_the_warned_record(category, model_dir, tmp_path):
    record, reference = WARNED[category](tmp_path)
    with _memory_cap():
        got = _entry_points(model_dir, tmp_path / f"{record}.hea")
        expected = _entry_points(model_dir, tmp_path / f"{reference}.hea")
    assert _difference(got, expected) is None, WARNED[category].__doc__


@pytest.mark.parametrize("category", list(READ_OR_REFUSED))
def test_entry_points_read_exactly_or_refuse(category, model_dir, tmp_path):
    record, reference = READ_OR_REFUSED[category](tmp_path)
    with _memory_cap():
        expected = _entry_points(model_dir, tmp_path / f"{reference}.hea")
        try:
            got = _entry_points(model_dir, tmp_path / f"{record}.hea")
        except ValueError as error:
            assert record in str(error), f"the error does not name {record!r}: {error}"
            return
    assert _difference(got, expected) is None, READ_OR_REFUSED[category].__doc__


# ----------------------------------------------------------------------------------------------------------
# Runs of their own: names of the run's own files, reruns, named pipes
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("category", list(OWN_RUN))
def test_a_record_named_like_the_runs_own_files(category, model_dir, tmp_path):
    """Alone in a folder (with --details): the record gets its reference's output (or, if refusable, a failure
    row), and the run's own tables, one failure table and one details table wherever it puts them, stay
    intact."""
    data, outputs = tmp_path / "data", tmp_path / "outputs"
    record, reference = OWN_RUN[category](data)
    result = _script("run_model.py", model_dir, data, outputs, "--details")
    run = Run(outputs, result.returncode, result.stderr)
    assert result.returncode == 0 and "Traceback" not in result.stderr, run.status()
    tables = _tables(outputs)
    assert len(tables["failures"]) == 1, f"failure tables: {tables['failures']} ({run.status()})"
    assert len(tables["details"]) == 1, f"details tables: {tables['details']} ({run.status()})"
    failures = _failure_rows(tables["failures"][0], run)
    with tables["details"][0].open(newline="", encoding="utf-8", errors="replace") as handle:
        detailed = {row.get("record") for row in csv.DictReader(handle)}
    assert reference in detailed, f"the details table has no row for {reference!r}"
    assert all(reason.strip() and "\n" not in reason for _, reason in failures), failures
    rows = [row for row in failures if _names(row[0], record)]
    if rows and category in REFUSABLE:
        return
    assert not rows, f"{record!r} must run ({OWN_RUN[category].__doc__}), but: {rows}"
    assert _difference(run.output(record), run.output(reference)) is None, OWN_RUN[category].__doc__


@pytest.mark.parametrize("category", list(RERUNS))
def test_a_rerun_leaves_no_output_of_a_record_that_now_fails(category, model_dir, tmp_path):
    data, outputs = tmp_path / "data", tmp_path / "outputs"
    write_good(data, "rerun_companion")  # a second run that runs no record at all would exit non-zero
    record, damage = RERUNS[category](data)
    first = _script("run_model.py", model_dir, data, outputs)
    assert (outputs / f"{record}.csv").is_file(), f"the first run gave {record!r} no output: {first.stderr[-2000:]}"
    damage()
    second = _script("run_model.py", model_dir, data, outputs)
    run = Run(outputs, second.returncode, second.stderr)
    assert second.returncode == 0 and "Traceback" not in second.stderr, run.status()
    assert any(_names(file, record) for file, _ in run.failures()), f"{record!r} is not reported after the damage"
    assert not (outputs / f"{record}.csv").exists(), f"the first run's output of {record!r} is still there"


def test_a_run_reports_named_pipes_without_waiting_on_them(model_dir, tmp_path):
    data, outputs = tmp_path / "data", tmp_path / "outputs"
    write_good(data, "hazard_companion")
    names = {category: writer(data) for category, writer in HAZARDS.items()}
    result = _script("run_model.py", model_dir, data, outputs, timeout=HAZARD_TIMEOUT_S)
    run = Run(outputs, result.returncode, result.stderr)
    assert result.returncode == 0 and "Traceback" not in result.stderr, run.status()
    assert (outputs / "hazard_companion.csv").is_file(), run.status()
    failures = run.failures()
    unreported = {category: record for category, records in names.items() for record in records
                  if not any(_names(file, record) for file, _ in failures)}
    assert not unreported, f"not named in failures.csv: {unreported}"


def test_the_evaluator_reports_a_named_pipe_among_the_labels_without_waiting_on_it(clean, tmp_path):
    """A labels folder of the clean run's headers (those it gave an output) and a named pipe called
    ``fifo_header.hea``: the evaluator skips the pipe, says so, and scores the rest."""
    labels = tmp_path / "labels"
    labels.mkdir()
    for header in clean.folder.rglob("*.hea"):
        if (clean.run.outputs / f"{header.stem}.csv").is_file() and not (labels / header.name).exists():
            shutil.copyfile(header, labels / header.name)
    (record,) = HAZARDS["fifo_header"](labels)
    result = _script("evaluate_model.py", labels, clean.run.outputs, timeout=HAZARD_TIMEOUT_S)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-4000:]
    assert record in result.stderr + result.stdout, f"the evaluator does not name {record!r}: {result.stderr[-2000:]}"


# ----------------------------------------------------------------------------------------------------------
# The Challenge's Python API; model folders
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(API_REFUSALS))
def test_the_api_refuses_an_argument_of_the_wrong_kind_by_name(case, model_dir, tmp_path):
    """A TypeError or ValueError whose one-line message names the argument; any other exception (an
    AttributeError from deep inside) propagates and fails the test."""
    call, argument = API_REFUSALS[case](tmp_path, model_dir)
    with _memory_cap(), pytest.raises((TypeError, ValueError)) as raised:
        call()
    message = str(raised.value)
    assert argument in message and "\n" not in message, f"{API_REFUSALS[case].__doc__}: {message!r}"


@pytest.mark.parametrize("case", list(API_READS))
def test_the_api_reads_the_record(case, model_dir, tmp_path):
    call, expected = API_READS[case](tmp_path, model_dir)
    with _memory_cap():
        got = np.asarray(call())
    assert got.shape == expected.shape and np.array_equal(got, expected), API_READS[case].__doc__


@pytest.mark.parametrize("case", list(MODEL_DAMAGE))
def test_a_damaged_model_folder_is_refused_at_load_in_one_line(case, model_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    file = MODEL_DAMAGE[case](model)
    with _memory_cap(), pytest.raises(ValueError) as raised:
        team_code.load_model(str(model), LEAD_SETS[12])
    message = str(raised.value)
    assert file in message and "\n" not in message, f"{MODEL_DAMAGE[case].__doc__}: {message!r}"
