"""The commands behind the contract scripts (``train_model.py``, ``run_model.py``, ``evaluate_model.py``) and the
``ecgnet`` command (:mod:`ecgnet.__main__`): each module has ``main(argv, prog)``."""
