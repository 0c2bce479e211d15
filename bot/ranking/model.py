"""A chat's model: logistic regression on its votes, fitted with numpy alone.

The training rows are the papers the chat voted on (liked: net 👍, disliked: net 👎) plus a few hundred
random papers it never rated, as weak negatives: most papers of a day are not what a group wants, and
without them a chat with a few votes would learn only the words its votes happen to share. The weak
negatives together weigh as much as the liked papers, so a chat with three likes is not drowned.

The fit is full-batch gradient descent with Nesterov momentum on the rows' own features (a few
thousand columns), a fixed number of steps: on a few hundred unit-length rows the loss is smooth with a
known bound on its curvature, so a fixed step needs no line search. Only the strongest weights are
kept (`MODEL_TERMS`), which bounds a model's memory to a few kilobytes whatever the chat voted on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.ranking.features import PaperVector, stack

MODEL_TERMS = 1024  # weights kept per chat: 1024 × 8 bytes
STEPS = 60
DTYPE = np.float32
L2 = 1e-3  # the ridge on the weights (not the bias)
# The loss's curvature is at most 1/4 × the squared length of a row with its bias input (1 + 1).
_STEP = 1.0 / (0.5 + L2)


@dataclass(frozen=True, slots=True)
class ChatModel:
    """A fitted model: sorted feature slots, their weights and the bias."""

    slots: npt.NDArray[np.int32]
    weights: npt.NDArray[np.float32]
    bias: float
    liked: int
    disliked: int

    @property
    def nbytes(self) -> int:
        """The memory its arrays take."""
        return int(self.slots.nbytes + self.weights.nbytes)


def fit(
    liked: Sequence[PaperVector],
    disliked: Sequence[PaperVector],
    weak_negatives: Sequence[PaperVector],
    *,
    liked_weights: Sequence[float] | None = None,
    disliked_weights: Sequence[float] | None = None,
) -> ChatModel:
    """Fit a chat's model on its liked and disliked papers and some papers it never rated."""
    rows = [*liked, *disliked, *weak_negatives]
    labels = np.array([1.0] * len(liked) + [0.0] * (len(disliked) + len(weak_negatives)), dtype=np.float64)
    weak_each = len(liked) / len(weak_negatives) if weak_negatives else 0.0
    weights = np.array(
        [*(liked_weights or [1.0] * len(liked))]
        + [*(disliked_weights or [1.0] * len(disliked))]
        + [weak_each] * len(weak_negatives),
        dtype=np.float64,
    )
    slots, values, lengths = stack(rows)
    voted_slots, _, _ = stack([*liked, *disliked])
    # Only the voted papers' own features get weights: the weak negatives shape them (a word every
    # paper has is no sign of taste) but their other words could never raise or lower a paper much.
    columns = np.unique(voted_slots)
    if columns.size == 0:
        return ChatModel(np.zeros(0, np.int32), np.zeros(0, np.float32), 0.0, len(liked), len(disliked))
    row_of = np.repeat(np.arange(len(rows)), lengths)
    positions = np.clip(np.searchsorted(columns, slots), 0, columns.size - 1)
    inside = columns[positions] == slots
    matrix = np.zeros((len(rows), columns.size), dtype=DTYPE)
    matrix[row_of[inside], positions[inside]] = values[inside]
    weights = (weights / weights.sum()).astype(DTYPE)
    labels = labels.astype(DTYPE)
    beta = np.zeros(columns.size, dtype=DTYPE)
    bias = 0.0
    previous_beta, previous_bias = beta, bias
    for step in range(1, STEPS + 1):
        momentum = (step - 1) / (step + 2)
        look_beta = beta + DTYPE(momentum) * (beta - previous_beta)
        look_bias = bias + momentum * (bias - previous_bias)
        scores = matrix @ look_beta + DTYPE(look_bias)
        error = weights * (_sigmoid(scores) - labels)
        gradient = matrix.T @ error + DTYPE(L2) * look_beta
        previous_beta, previous_bias = beta, bias
        beta = look_beta - DTYPE(_STEP) * gradient
        bias = look_bias - _STEP * float(error.sum())
    keep = np.argsort(-np.abs(beta))[:MODEL_TERMS]
    keep.sort()
    return ChatModel(
        columns[keep].astype(np.int32),
        beta[keep].astype(np.float32),
        float(bias),
        len(liked),
        len(disliked),
    )


def _sigmoid(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    result: npt.NDArray[Any] = 0.5 * (1.0 + np.tanh(0.5 * values))  # stable for large |x|
    return result


def contributions(
    model: ChatModel, vector: PaperVector
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """The paper's slots the model has a weight for, and what each adds to the paper's score."""
    if model.slots.size == 0 or vector.slots.size == 0:
        return np.zeros(0, np.int32), np.zeros(0)
    positions = np.clip(np.searchsorted(model.slots, vector.slots), 0, model.slots.size - 1)
    known = model.slots[positions] == vector.slots
    return vector.slots[known], vector.values[known].astype(np.float64) * model.weights[positions[known]]


def scores(model: ChatModel, vectors: Sequence[PaperVector]) -> npt.NDArray[np.float64]:
    """The model's probability that the chat likes each paper."""
    slots, values, lengths = stack(vectors)
    if not vectors:
        return np.zeros(0)
    raw = np.full(len(vectors), model.bias)
    if model.slots.size and slots.size:
        positions = np.clip(np.searchsorted(model.slots, slots), 0, model.slots.size - 1)
        known = model.slots[positions] == slots
        products = np.where(known, values.astype(np.float64) * model.weights[positions], 0.0)
        row_of = np.repeat(np.arange(len(vectors)), lengths)
        raw += np.bincount(row_of, weights=products, minlength=len(vectors))
    return _sigmoid(raw)
