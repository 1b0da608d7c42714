"""The ``ecgnet`` command (ecgnet.__main__) and the one error path every command shares (ecgnet.cli)."""

from __future__ import annotations

import importlib
import inspect

import pytest

from ecgnet import __main__ as ecgnet_main
from ecgnet.cli import run_command

#: The commands whose module is ecgnet.commands.<name>, with ``prog`` defaulting to ``ecgnet <name>``; train, run
#: and evaluate default to the name of their contract script.
MOVED = ("report", "explain", "ablate", "synthetic", "export")


def test_every_subcommand_is_a_module_with_main_argv_prog():
    assert all(len(entry) == 2 for entry in ecgnet_main.SUBCOMMANDS.values())
    for name, (module_name, summary) in ecgnet_main.SUBCOMMANDS.items():
        assert summary
        if name != "distill":  # its command moves to ecgnet.commands separately
            assert module_name == f"ecgnet.commands.{name}"
        parameters = inspect.signature(importlib.import_module(module_name).main).parameters
        assert list(parameters)[:2] == ["argv", "prog"], name
        if name in MOVED:
            assert parameters["prog"].default == f"ecgnet {name}" and parameters["argv"].default is None


@pytest.mark.parametrize("name", MOVED)
def test_the_library_modules_hold_no_command_line(name):
    assert not hasattr(importlib.import_module(f"ecgnet.{name}"), "main")


def test_a_subcommand_runs_under_its_own_name(capsys, tmp_path):
    with pytest.raises(SystemExit) as status:
        ecgnet_main.main(["synthetic", "--help"])
    assert status.value.code == 0 and capsys.readouterr().out.startswith("usage: ecgnet synthetic ")
    with pytest.raises(SystemExit) as status:
        ecgnet_main.main(["report", "curves", str(tmp_path / "nowhere"), "--out", str(tmp_path / "figures")])
    err = capsys.readouterr().err
    assert status.value.code == 1 and err.startswith("ecgnet report: error: ") and err.count("\n") == 1
    assert "nowhere" in err


def test_an_unknown_subcommand_or_none_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as status:
        ecgnet_main.main(["nonsense"])
    assert status.value.code == 2 and "unknown subcommand 'nonsense'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as status:
        ecgnet_main.main([])
    usage = capsys.readouterr().out
    assert status.value.code == 2 and all(f"  {name} " in usage for name in ecgnet_main.SUBCOMMANDS)


def _fail(error: BaseException):
    def main():
        raise error

    return main


@pytest.mark.parametrize(("main", "code", "stderr"), [
    (lambda: 0, 0, ""),
    (lambda: None, 0, ""),
    (lambda: 3, 3, ""),
    (_fail(ValueError("a bad\n   value")), 1, "prog: error: a bad value\n"),
    (_fail(FileNotFoundError("missing.csv")), 1, "prog: error: missing.csv\n"),
    (_fail(RuntimeError()), 1, "prog: error: RuntimeError\n"),
    (_fail(KeyboardInterrupt()), 130, "prog: interrupted\n"),
])
def test_run_command_exits_with_the_status_and_one_line_per_error(capsys, main, code, stderr):
    with pytest.raises(SystemExit) as status:
        run_command(main, "prog")
    assert status.value.code == code and capsys.readouterr().err == stderr
