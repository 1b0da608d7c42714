"""The commands: those behind the contract scripts (``train_model.py``, ``run_model.py``, ``evaluate_model.py``)
and every subcommand of the ``ecgnet`` command (:mod:`ecgnet.__main__`). Each module has
``main(argv=None, prog="ecgnet NAME") -> int`` and its argument parser; errors propagate to
:func:`ecgnet.cli.run_command`, which makes each one line and a non-zero exit status."""
