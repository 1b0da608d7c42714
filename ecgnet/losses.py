"""Training losses beyond plain BCE: label masking per source, reward-shaped weights, a differentiable
Challenge score, and the NT-Xent loss of contrastive pre-training.

The pieces are independent; ``ecgnet.training`` combines them according to the ``[training]`` config
(``label_masking``, ``source_table``, ``reward_weights``, ``reward_alpha``, ``challenge_loss_weight``,
``pretrain_temperature``).

Label masking. The Challenge's sources label different subsets of the 26 classes: a source that never
labels a class still has records with that rhythm, marked negative. Training on those negatives teaches the
network to miss the class, so the loss of a (source, class) pair is dropped when the source has no positive
of the class among the training records. Arrays: ``labels`` is boolean (records, classes), columns in
:class:`~ecgnet.labels.ClassTable` order.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ecgnet.records import source_of

SOURCE_TABLE_COLUMNS = ("record", "source")
# Below this, a batch's Challenge-score denominator counts as 0 (its labels score no better than sinus
# rhythm only); the metric scores such a batch 0.
_SCORE_EPS = 1e-9
# The weighted BCE divides by at least this, so an all-masked batch gives 0, not NaN.
_WEIGHT_EPS = 1e-12


# Label masking.
def read_source_table(path: str | os.PathLike) -> dict[str, str]:
    """Record id -> source from a CSV with a ``record,source`` header (other columns are ignored).

    Raises ValueError naming the file (and line) for a missing column, an empty value or a record listed
    twice; FileNotFoundError when the file is missing.
    """
    table: dict[str, str] = {}
    first_line: dict[str, int] = {}
    # utf-8-sig: a spreadsheet's byte-order mark would otherwise become part of the first column name.
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        _check_source_columns(path, reader.fieldnames)
        for row in reader:
            line = reader.line_num
            record, source = (_source_cell(path, line, row, column) for column in SOURCE_TABLE_COLUMNS)
            if record in table:
                raise ValueError(f"{path}: line {line}: record {record} is listed twice (first on line "
                                 f"{first_line[record]})")
            table[record], first_line[record] = source, line
    return table


def _check_source_columns(path: str | os.PathLike, fieldnames: Sequence[str] | None) -> None:
    names = [name.strip() for name in fieldnames or []]
    missing = [column for column in SOURCE_TABLE_COLUMNS if column not in names]
    if missing:
        raise ValueError(f"{path}: line 1: missing column(s) {', '.join(missing)} (the header must be "
                         f"{','.join(SOURCE_TABLE_COLUMNS)})")


def _source_cell(path: str | os.PathLike, line: int, row: dict[str, str | None], column: str) -> str:
    """The stripped value of ``column``; ValueError naming the line when it is empty or absent."""
    # Keys are matched stripped, so a header written "record, source" works too.
    value = next((v for k, v in row.items() if k is not None and k.strip() == column), None)
    value = (value or "").strip()
    if not value:
        raise ValueError(f"{path}: line {line}: empty {column}")
    return value


def record_sources(record_ids: Iterable[str], table: dict[str, str] | None = None) -> list[str]:
    """The source of each record: from ``table`` when it lists the record, else from its name prefix."""
    table = table or {}
    return [table[record] if record in table else source_of(record) for record in record_ids]


def label_mask_table(sources: Sequence[str], labels: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The sorted source names and a (sources, classes) bool mask: True where the source has a positive.

    Built from the training records only, so a fold never learns which classes its validation records'
    sources label.
    """
    labels = np.asarray(labels, dtype=bool)
    if labels.ndim != 2 or labels.shape[0] != len(sources):
        raise ValueError(f"labels {labels.shape} must be (records, classes) with one row per source "
                         f"({len(sources)} sources)")
    names, inverse = np.unique(np.asarray(sources, dtype=str), return_inverse=True)
    positives = np.zeros((len(names), labels.shape[1]), dtype=np.int64)
    np.add.at(positives, inverse.reshape(-1), labels)
    return [str(name) for name in names], positives > 0


def source_indices(sources: Sequence[str], names: Sequence[str]) -> np.ndarray:
    """The int64 index of each source in ``names``; ``len(names)`` for a source not among them.

    The index ``len(names)`` means 'unknown': :func:`record_label_masks` gives it an all-True mask. A source
    unseen in training (a held-out source, unlabelled records) has no evidence of which classes it labels,
    so none of its classes is masked, as without masking. Using ``len(names)`` rather than -1 makes a
    forgotten special case an IndexError instead of silently reading the last source's row.
    """
    position = {name: i for i, name in enumerate(names)}
    unknown = len(position)
    return np.array([position.get(source, unknown) for source in sources], dtype=np.int64)


def record_label_masks(indices: np.ndarray, mask_table: np.ndarray) -> np.ndarray:
    """The (records, classes) bool mask of each record from its source index (:func:`source_indices`).

    Unknown sources (index ``len(mask_table)``) get all True.
    """
    mask_table = np.asarray(mask_table, dtype=bool)
    padded = np.vstack([mask_table, np.ones((1, mask_table.shape[1]), dtype=bool)])
    return padded[np.asarray(indices, dtype=np.int64)]


# Loss shaping.
def reward_class_weights(labels: Tensor, weights: Tensor | np.ndarray, alpha: float) -> Tensor:
    """Per-record class weights for the BCE from the Challenge reward matrix ``weights`` (W).

    With the cost matrix M = 1 - W + alpha I, a record's weights are the element-wise minimum of the rows
    M[i] over its labels i; a record with no label gets all ones.

    What it means: a negative class k costs 1 - W[i, k] for a true label i, i.e. less when the metric
    partly rewards answering k for i (a confusable class such as a neighbouring conduction block), and
    nothing when k is equivalent to i (W[i, k] = 1). A positive class gets alpha (W[i, i] = 1), so alpha sets
    the weight of the positives against the negatives. Taking the minimum over the labels means a class is
    only as costly as the label that excuses it most; a positive can thus get less than alpha when another
    of the record's labels partly rewards it. The weights have the labels' float dtype (float32 for bool).
    """
    dtype = labels.dtype if labels.is_floating_point() else torch.float32
    labels = labels.bool()
    matrix = torch.as_tensor(weights, dtype=dtype, device=labels.device)
    cost = 1 - matrix + alpha * torch.eye(matrix.shape[0], dtype=matrix.dtype, device=matrix.device)
    # (B, C, C): row i of M where i is a label of the record, +inf elsewhere, so it never wins the minimum.
    rows = torch.where(labels[:, :, None], cost[None], torch.full_like(cost, float("inf"))[None])
    smallest = rows.amin(dim=1)
    return torch.where(labels.any(dim=1, keepdim=True), smallest, torch.ones_like(smallest))


def soft_challenge_score(
    labels: Tensor, probabilities: Tensor, weights: Tensor | np.ndarray, sinus_index: int | None
) -> Tensor:
    """A differentiable Challenge metric of a batch: probabilities stand in for the binary outputs.

    Follows :func:`ecgnet.metric.challenge_metric` (the Challenge's scoring rule): A[j, k] adds label_j * p_k / n
    per record, score = sum(W * A), and the result is (observed - inactive) / (correct - inactive), where
    'correct' outputs the labels and 'inactive' only sinus rhythm (nothing when ``sinus_index`` is None;
    the metric itself refuses that case). n is the soft size of ``labels | outputs``,
    ``max(1, sum_k (y_k + p_k - y_k p_k))`` (the probabilistic OR). For 0/1 labels this equals the sum of
    ``max(y_k, p_k)`` and, for 0/1 probabilities, the hard union, so binary outputs score exactly what
    the metric gives. A batch whose labels score no better than the inactive outputs scores 0, as in the
    metric. The denominator depends on the labels only, so the gradient flows through 'observed' alone.

    Half-precision probabilities are scored in float32 (also under autocast); float64 stays float64.
    """
    dtype = torch.promote_types(probabilities.dtype, torch.float32)
    probabilities = probabilities.to(dtype)
    labels = labels.to(dtype=dtype, device=probabilities.device)
    matrix = torch.as_tensor(weights, dtype=dtype, device=probabilities.device)
    with _full_precision(probabilities):
        observed = _soft_score(labels, probabilities, matrix)
        correct = _soft_score(labels, labels, matrix)
        inactive = _soft_score(labels, _sinus_only(labels, sinus_index), matrix)
    denominator = correct - inactive
    # where() rather than an if: no device sync; the clamp keeps the unused branch finite (no NaN gradient).
    safe = denominator.clamp_min(_SCORE_EPS)
    return torch.where(denominator > _SCORE_EPS, (observed - inactive) / safe, observed * 0)


def _full_precision(tensor: Tensor) -> torch.autocast:
    """Autocast off on the tensor's device: mixed precision would run the matrix products in half precision."""
    return torch.autocast(device_type=tensor.device.type, enabled=False)


def _soft_score(labels: Tensor, outputs: Tensor, weights: Tensor) -> Tensor:
    """sum(W * A) with the modified confusion matrix A of (soft) outputs."""
    union = (labels + outputs - labels * outputs).sum(dim=1).clamp_min(1)
    confusion = (labels / union[:, None]).T @ outputs
    return (weights * confusion).sum()


def _sinus_only(labels: Tensor, sinus_index: int | None) -> Tensor:
    outputs = torch.zeros_like(labels)
    if sinus_index is not None:
        outputs[:, sinus_index] = 1
    return outputs


def challenge_loss(
    labels: Tensor, probabilities: Tensor, weights: Tensor | np.ndarray, sinus_index: int | None
) -> Tensor:
    """``1 - soft_challenge_score(...)``: 0 for perfect outputs, 1 for outputs as good as sinus rhythm only."""
    return 1 - soft_challenge_score(labels, probabilities, weights, sinus_index)


def masked_bce(
    logits: Tensor, targets: Tensor, pos_weight: Tensor | None = None, element_weights: Tensor | None = None
) -> Tensor:
    """BCE with logits, weighted per element and averaged over the weights.

    ``element_weights`` (broadcastable to (B, C); e.g. label mask x reward weights) multiplies each
    element's loss, and the sum is divided by the sum of the weights, so a masked element (weight 0) leaves
    the mean instead of counting as a zero loss. Without weights this is ``nn.BCEWithLogitsLoss``.
    """
    losses = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), pos_weight=pos_weight,
                                                reduction="none")
    if element_weights is None:
        return losses.mean()
    element_weights = torch.broadcast_to(element_weights.to(losses.dtype), losses.shape)
    return (losses * element_weights).sum() / element_weights.sum().clamp_min(_WEIGHT_EPS)


# Self-supervised pre-training.
def nt_xent(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """The NT-Xent (normalized temperature-scaled cross-entropy) loss of SimCLR (Chen et al., 2020).

    ``z1[i]`` and ``z2[i]`` are projections of two augmented views of example i. Each of the 2B views
    must pick its partner, by cosine similarity / temperature, among the other 2B - 1 views (the 2B - 2
    views of other examples are the negatives); the loss is the mean cross-entropy over all 2B views.
    Computed in float32 at least (also under autocast), through log-softmax, so a low temperature does not
    overflow.
    """
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(f"z1 {tuple(z1.shape)} and z2 {tuple(z2.shape)} must be 2-D of the same shape")
    if z1.shape[0] < 2:
        raise ValueError(f"NT-Xent needs a batch of at least 2 examples (negatives), not {z1.shape[0]}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, not {temperature!r}")
    dtype = torch.promote_types(z1.dtype, torch.float32)
    views = F.normalize(torch.cat([z1, z2]).to(dtype), dim=1)
    with _full_precision(views):
        logits = views @ views.T / temperature
    # A view is not its own candidate.
    self_pairs = torch.eye(len(views), dtype=torch.bool, device=views.device)
    logits = logits.masked_fill(self_pairs, float("-inf"))
    batch = z1.shape[0]
    partners = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)]).to(views.device)
    return F.cross_entropy(logits, partners)
