"""Every command the README shows runs: each one that starts one of our entry points is run with ``--help`` in
place of its arguments, and must exit 0 with its own usage line.

What counts as a command, in the README's fenced code blocks (and in its inline code spans that start with
``python `` or ``ecgnet ``):

- a line (backslash continuations joined) whose first word, after any ``NAME=value`` settings, is a launcher:
  ``python``/``python3`` (then a contract script or ``-m ecgnet``/``-m bench.NAME``), ``ecgnet`` (then its
  subcommand), ``torchrun`` (then a contract script) or ``docker run`` (then the command it runs in the image);
- lines that start with a program's name and a colon (``run_model.py: error: ...``) are output shown to the
  reader, never commands, and so are lines of other blocks (``make``, ``pip``, the layout, the data flow).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import REPO

SCRIPTS = ("train_model.py", "run_model.py", "evaluate_model.py")
#: Words after a subcommand that name a command of their own (``ecgnet report curves MODEL --out DIR``).
NESTED = {("ecgnet", "report"): ("curves",)}
OUTPUT_LINE = re.compile(r"^[\w.\-/]+: ")  # `run_model.py: error: ...`, `ecgnet: error: ...`


def readme_lines() -> list[str]:
    """The lines of the README's fenced code blocks (continuations joined), and its inline code spans that start
    with ``python ``, ``ecgnet `` or a contract script (``run_model.py MODEL DATA OUTPUTS --details``, read as
    ``python run_model.py ...``), in order."""
    text = (REPO / "README.md").read_text()
    lines: list[str] = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S):
        lines += block.replace("\\\n", " ").splitlines()
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.M | re.S)
    for span in re.findall(r"`([^`]+)`", prose):
        span = " ".join(span.split())
        if re.match(rf"({'|'.join(map(re.escape, SCRIPTS))}) ", span):
            span = f"python {span}"
        if re.match(r"(python3?|ecgnet) ", span):
            lines.append(span)
    return [line.strip() for line in lines if line.strip()]


def entry_point(line: str) -> tuple[tuple[str, ...], list[str]] | None:
    """The entry point a README line runs, as the words that start it (``("-m", "ecgnet", "run")``,
    ``("train_model.py",)``), and the options the line gives it; None when the line runs none of ours or is
    output."""
    if OUTPUT_LINE.match(line):
        return None
    words = line.split(" # ")[0].split()  # the leading words are what matter: no shell quoting needed
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # ECGNET_CONFIG=small python ...
        words = words[1:]
    if not words:
        return None
    if words[0] == "docker" and words[1:2] == ["run"] and "python" in words:
        words = words[words.index("python"):]  # the command run in the image
    if words[0] == "torchrun":
        scripts = [i for i, word in enumerate(words) if word in SCRIPTS]
        if not scripts:
            return None
        words = words[scripts[0]:]
    elif words[0] == "ecgnet":
        words = ["-m", *words]
    elif words[0] in ("python", "python3"):
        words = words[1:]
    else:
        return None
    if words[:1] and words[0] in SCRIPTS:
        point = (words[0],)
    elif words[:1] == ["-m"] and len(words) > 1 and words[1].startswith("bench."):
        point = ("-m", words[1])
    elif words[:2] == ["-m", "ecgnet"]:
        rest = [word for word in words[2:3] if not word.startswith("-")]  # `ecgnet --help` has no subcommand
        nested = [word for word in words[3:4] if word in NESTED.get(("ecgnet", *rest), ())]
        point = ("-m", "ecgnet", *rest, *nested)
    else:
        return None
    options = [match.group(1) for word in words[len(point):] if (match := re.match(r"\[?(--[a-z][\w-]*)", word))]
    return point, options


def readme_commands() -> dict[tuple[str, ...], list[str]]:
    """The entry points the README runs, each once in order of first appearance, with every option it gives
    each."""
    commands: dict[tuple[str, ...], list[str]] = {}
    for found in map(entry_point, readme_lines()):
        if found is not None:
            point, options = found
            commands.setdefault(point, [])
            commands[point] += [option for option in options if option not in commands[point]]
    return commands


def usage_name(point: tuple[str, ...]) -> str:
    """The program name a command's usage line must show: ``ecgnet run``, ``train_model.py``, and for a benchmark
    (``-m bench.NAME``, argparse's default) ``NAME.py``."""
    if point[:2] == ("-m", "ecgnet"):
        return " ".join(("ecgnet", *point[2:]))
    return point[0] if point[0] != "-m" else f"{point[1].rpartition('.')[2]}.py"


def test_the_rules_tell_commands_from_output_and_other_lines():
    assert entry_point("python train_model.py training_data model --config small") == (
        ("train_model.py",), ["--config"])
    assert entry_point("ECGNET_CONFIG=small python run_model.py model test_data outputs") == (("run_model.py",), [])
    assert entry_point("ecgnet train DATA MODEL --config small") == (("-m", "ecgnet", "train"), ["--config"])
    assert entry_point("ecgnet --help") == (("-m", "ecgnet"), ["--help"])
    assert entry_point("python -m ecgnet report curves MODEL --out DIR") == (
        ("-m", "ecgnet", "report", "curves"), ["--out"])
    assert entry_point("ecgnet compare A B C [--bootstrap N] [--json]") == (
        ("-m", "ecgnet", "compare"), ["--bootstrap", "--json"])
    assert entry_point("python -m bench.heldout_split ../shared/data heldout_test   # PTB-XL --not-an-option") == (
        ("-m", "bench.heldout_split"), [])
    assert entry_point("torchrun --standalone --nproc_per_node 4 train_model.py training_data model") == (
        ("train_model.py",), [])
    assert entry_point("docker run --gpus all -v $PWD/data:/data ecgnet python train_model.py /data /model") == (
        ("train_model.py",), [])
    # Output shown to the reader, and lines that run nothing of ours.
    assert entry_point("run_model.py: error: MODEL_DIR 'test_data' holds records (run_model.py MODEL DATA)") is None
    assert entry_point("ecgnet: error: unknown subcommand 'x'") is None
    for line in ("make demo", "pip install .", "docker build -t ecgnet .", "models/        network definitions",
                 "train_model.py run_model.py evaluate_model.py team_code.py helper_code.py   the contract, thin",
                 "inference: discovery -> records (formats/) -> prepare"):
        assert entry_point(line) is None, line


def test_the_readme_shows_the_commands_a_newcomer_needs():
    commands = readme_commands()
    for needed in [("train_model.py",), ("run_model.py",), ("evaluate_model.py",), ("-m", "ecgnet"),
                   ("-m", "ecgnet", "train"), ("-m", "ecgnet", "run"), ("-m", "ecgnet", "evaluate"),
                   ("-m", "ecgnet", "report"), ("-m", "ecgnet", "explain"), ("-m", "ecgnet", "ablate")]:
        assert needed in commands, needed
    assert "--config" in commands[("train_model.py",)] and "--report" in commands[("evaluate_model.py",)]
    # The error lines of the README's block of mistakes are output, not commands.
    assert any(line.startswith("run_model.py: error: ") for line in readme_lines())


@pytest.mark.parametrize(("point", "options"), list(readme_commands().items()),
                         ids=[" ".join(point) for point in readme_commands()])
def test_every_readme_command_exists_and_parses(point, options):
    """``--help`` in place of the arguments: exit 0, the usage line names the program as the README does, and
    every option the README gives it is one the program has."""
    result = subprocess.run([sys.executable, *point, "--help"], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {usage_name(point)}"), result.stdout[:200]
    unknown = [option for option in options if not re.search(rf"{re.escape(option)}\b", result.stdout)]
    assert not unknown, f"{usage_name(point)} has no {', '.join(unknown)}"
