"""Benchmarks of ecgnet, run from the repository root as modules: ``python -m bench.NAME`` (see BENCHMARKS.md)."""
