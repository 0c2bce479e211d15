"""A paper as a sparse vector: hashed words of its title and abstract, its authors and its categories.

Feature hashing (crc32 of each term into 2**20 slots) gives a vocabulary that is frozen for good: a
model fitted today still reads tomorrow's papers with the same features, so a chat is refitted only
when its votes change, and nothing has to be kept but the model's own weights. `/why` maps weights back
to words by hashing the paper's own terms again.

Terms are sublinear-tf weighted (1 + log tf) and each vector has unit length, so a long abstract does
not outweigh a short one. Title words count twice: a title says what a paper is about.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.models import Paper

HASH_BITS = 20
HASH_MASK = (1 << HASH_BITS) - 1
TITLE_WEIGHT = 2.0  # a title word counts as much as two abstract words
AUTHOR_WEIGHT = 3.0  # an author says more about taste than one word does
CATEGORY_WEIGHT = 1.0
MAX_AUTHORS = 10  # beyond the first ten, authors of huge collaborations add only noise

# A word has a letter (so `3d` and `gpt4` count, `2025` does not); hyphenated words stay one.
_WORD = re.compile(r"[a-z0-9]*[a-z][a-z0-9]*(?:-[a-z0-9]+)*")

# Words that say nothing about what a paper is about, in almost every abstract.
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "here",
        "how",
        "however",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "more",
        "most",
        "much",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "same",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "us",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yet",
        "via",
        "thus",
        "therefore",
        "within",
        "without",
        "across",
        "among",
        "upon",
        "whether",
        "either",
        "neither",
        "may",
        "might",
        "must",
        "shall",
        "one",
        "two",
        "three",
        "new",
        "novel",
        "propose",
        "proposed",
        "proposes",
        "paper",
        "approach",
        "approaches",
        "method",
        "methods",
        "methodology",
        "results",
        "result",
        "show",
        "shows",
        "shown",
        "demonstrate",
        "demonstrates",
        "present",
        "presents",
        "presented",
        "using",
        "use",
        "used",
        "uses",
        "based",
        "work",
        "study",
        "studies",
        "existing",
        "significantly",
        "significant",
        "performance",
        "state",
        "art",
        "well",
        "first",
        "introduce",
        "introduces",
        "further",
        "furthermore",
        "experiments",
        "experimental",
        "extensive",
        "outperforms",
        "achieve",
        "achieves",
        "achieving",
        "effective",
        "effectively",
        "provide",
        "provides",
        "task",
        "tasks",
        "different",
        "various",
        "many",
        "several",
        "including",
        "often",
        "make",
        "makes",
        "however",
    ]
)


def _fold(text: str) -> str:
    """Lower case without accents, as the filters match."""
    if text.isascii():  # most titles and abstracts: nothing to decompose
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def words(text: str) -> list[str]:
    """The content words of a text: folded, no stop words, no pure numbers, at least two characters."""
    return [word for word in _WORD.findall(_fold(text)) if len(word) > 1 and word not in STOP_WORDS]


def author_term(name: str) -> str:
    """`au:levine_s` for "Sergey Levine": the last name and first initial, folded."""
    parts = _fold(name).replace(".", " ").split()
    if not parts:
        return ""
    last = parts[-1]
    initial = parts[0][0] if len(parts) > 1 else ""
    return f"au:{last}_{initial}" if initial else f"au:{last}"


def weighted_terms(paper: Paper) -> dict[str, float]:
    """The paper's terms with their raw weights (title words weigh double, authors, categories)."""
    counts: dict[str, float] = {}
    for word in words(paper.title):
        counts[word] = counts.get(word, 0.0) + TITLE_WEIGHT
    for word in words(paper.abstract):
        counts[word] = counts.get(word, 0.0) + 1.0
    weights = {term: 1.0 + math.log(count) for term, count in counts.items()}
    for name in paper.authors[:MAX_AUTHORS]:
        term = author_term(name)
        if term:
            weights[term] = AUTHOR_WEIGHT
    for category in paper.categories:
        weights[f"cat:{category.lower()}"] = CATEGORY_WEIGHT
    return weights


def slot(term: str) -> int:
    """The term's feature slot (stable across processes and Python versions: crc32, not hash())."""
    return zlib.crc32(term.encode("utf-8")) & HASH_MASK


@dataclass(frozen=True, slots=True)
class PaperVector:
    """A paper's unit-length sparse vector: sorted feature slots and their values."""

    slots: npt.NDArray[np.int32]
    values: npt.NDArray[np.float32]

    def dot(self, other: PaperVector) -> float:
        """Cosine similarity with another paper (both have unit length)."""
        common, mine, theirs = np.intersect1d(
            self.slots, other.slots, assume_unique=True, return_indices=True
        )
        if common.size == 0:
            return 0.0
        return float(np.dot(self.values[mine], other.values[theirs]))


def vectorize(paper: Paper) -> PaperVector:
    """The paper as a unit-length hashed vector (colliding terms add up)."""
    summed: dict[int, float] = {}
    for term, weight in weighted_terms(paper).items():
        index = slot(term)
        summed[index] = summed.get(index, 0.0) + weight
    if not summed:
        return PaperVector(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))
    slots = np.fromiter(sorted(summed), dtype=np.int32, count=len(summed))
    values = np.array([summed[int(index)] for index in slots], dtype=np.float32)
    values /= np.float32(np.linalg.norm(values))
    return PaperVector(slots, values)


def terms_by_slot(paper: Paper) -> dict[int, list[str]]:
    """The paper's own terms by feature slot, to say which words a model's weight stands for."""
    by_slot: dict[int, list[str]] = {}
    for term in weighted_terms(paper):
        by_slot.setdefault(slot(term), []).append(term)
    return by_slot


def stack(vectors: Iterable[PaperVector]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32], list[int]]:
    """Several vectors as one CSR-like triple: all slots, all values, and each row's length."""
    rows = list(vectors)
    lengths = [row.slots.size for row in rows]
    if not rows:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32), lengths
    return np.concatenate([row.slots for row in rows]), np.concatenate([row.values for row in rows]), lengths
