"""Network architectures, looked up by name.

Every architecture is one self-contained file that registers itself with ``@register_model(name)``; importing
this package imports them all. Every model follows one forward contract, which the rest of ``ecgnet`` relies
on::

    logits = model(signal, lead_mask, demographics, extra=None)
    # signal       (B, num_leads, T) float, absent leads zeroed
    # lead_mask    (B, num_leads)    float 0/1, which leads exist
    # demographics (B, 4)            float [age/100 (0 if unknown), age_known, is_male, sex_known]
    # extra        (B, F)            float hand-made features, when built with extra_features = F > 0
    # logits       (B, num_classes)

and offers ``model.embedding(signal, lead_mask, demographics, extra)`` (the vector fed to the classifier),
``model.embedding_size`` (its length), ``model.pooled_size`` (how many of its first values come from the
signal: the rest are the lead mask, demographics and extra features), ``model.classify(embedding)`` (logits
from it) and ``model.head`` (the classifier's last layer).
"""

from __future__ import annotations

import importlib
import pkgutil

from ._registry import (
    architecture_parameters,
    count_parameters,
    create_model,
    create_model_from_config,
    list_models,
    register_model,
    unregister_model,
)

__all__ = [
    "architecture_parameters",
    "count_parameters",
    "create_model",
    "create_model_from_config",
    "list_models",
    "register_model",
    "unregister_model",
]


def _import_architectures() -> None:
    """Import every module of this package: each architecture registers itself on import, so a new one is a
    new file here and nothing else (modules whose name starts with ``_`` are helpers, not architectures)."""
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


_import_architectures()
