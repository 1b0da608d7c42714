"""The contract files, the Dockerfile, the Makefile and CI: what can be checked without building."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

CONTRACT_FILES = ("train_model.py", "run_model.py", "team_code.py", "helper_code.py", "evaluate_model.py",
                  "weights.csv", "Dockerfile", "requirements.txt")


def test_contract_files_are_at_the_top_level():
    missing = [name for name in CONTRACT_FILES if not (REPO / name).is_file()]
    assert not missing
    assert (REPO / "models" / "__init__.py").is_file()


def _dockerfile_instructions() -> list[tuple[str, str]]:
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def test_dockerfile_is_official_style():
    instructions = _dockerfile_instructions()
    assert instructions[0][0] == "FROM" and re.match(r"python:3\.1[1-9]", instructions[0][1])
    assert ("WORKDIR", "/physionet") in instructions
    assert any(k == "RUN" and "pip install" in v and "-r requirements.txt" in v for k, v in instructions)
    copies = [v.split() for k, v in instructions if k == "COPY"]
    assert ["./", "/physionet/"] in copies  # the whole project is copied into /physionet
    run_at = next(i for i, (k, v) in enumerate(instructions) if k == "RUN" and "requirements.txt" in v)
    copy_requirements_at = next(i for i, (k, v) in enumerate(instructions) if k == "COPY" and "requirements" in v)
    assert copy_requirements_at < run_at  # requirements are copied before they are installed


def test_dockerignore_keeps_local_environments_out():
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


def test_requirements_name_every_runtime_dependency():
    names = {re.split(r"[<>=!~ ]", line.strip())[0].lower()
             for line in (REPO / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")}
    assert {"torch", "numpy", "scipy", "neurokit2", "joblib", "safetensors", "tqdm", "scikit-learn"} <= names


def test_the_package_declares_the_same_dependencies_as_requirements_txt():
    import tomllib

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    required = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert sorted(declared) == sorted(required)


def test_the_package_carries_its_recipes_models_and_tables():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["ecgnet"] == "ecgnet.__main__:main"
    # The package alone, with its data (recipes, class table): hatchling ships every file of it, and `pip install .`
    # leaves no build/ or ecgnet.egg-info/ in the checkout.
    assert project["build-system"]["build-backend"] == "hatchling.build"
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["ecgnet"]  # no top-level `models`
    assert (REPO / "ecgnet" / "recipes" / "small.toml").is_file()
    assert list((REPO / "ecgnet" / "resources").glob("*.csv"))
    assert (REPO / "models").resolve() == (REPO / "ecgnet" / "models").resolve()  # the contract's models/ folder
    assert (REPO / "configs").resolve() == (REPO / "ecgnet" / "recipes").resolve()


def test_makefile_and_ci_use_the_readme_commands():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    ci = (REPO / ".ci" / "run").read_text()
    assert "REQUIRE_SHARED_DATA=1" in ci and "make test" in ci and ".ci/install-check" in ci
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme


@pytest.mark.parametrize("command", [["train_model.py"], ["run_model.py"], ["evaluate_model.py"],
                                     ["-m", "ecgnet", "synthetic"], ["-m", "ecgnet", "ablate"],
                                     ["-m", "bench.heldout_split"], ["-m", "bench.thresholds"]])
def test_every_command_has_help(command):
    result = subprocess.run([sys.executable, *command, "--help"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_no_script_edits_the_import_path_and_the_benchmarks_import_no_tests():
    """Tests find the repository through pytest's ``pythonpath``, benchmarks run as ``python -m bench.NAME``."""
    offenders = []
    for path in [*REPO.glob("*.py"), *REPO.glob("bench/*.py"), *REPO.glob("tests/*.py"), *REPO.glob("ecgnet/**/*.py")]:
        text = path.read_text()
        if path != Path(__file__).resolve() and re.search(r"sys\.path\.(insert|append)|sys\.path\s*=", text):
            offenders.append(f"{path.relative_to(REPO)}: edits sys.path")
        if path.parent.name == "bench" and re.search(r"^\s*(from|import) tests\b", text, re.M):
            offenders.append(f"{path.relative_to(REPO)}: imports tests")
    assert not offenders


def test_no_load_path_can_run_code_from_a_model_folder():
    """Model folders are read as JSON and safetensors only; a torch.load must be weights_only."""
    offenders = []
    for path in [*REPO.glob("*.py"), *REPO.glob("ecgnet/**/*.py"), *REPO.glob("models/**/*.py")]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"pickle\.loads?\(|joblib\.load\(|allow_pickle=True", line) or (
                    "torch.load(" in line and "weights_only=True" not in line):
                offenders.append(f"{path.name}:{number}")
    assert not offenders
