"""The learned order's pure parts: papers as hashed vectors, and a chat's logistic regression."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from bot.models import AnnounceType, Paper
from bot.ranking.features import (
    HASH_MASK,
    author_term,
    slot,
    terms_by_slot,
    vectorize,
    weighted_terms,
    words,
)
from bot.ranking.model import MODEL_TERMS, contributions, fit, scores


def paper(
    number: int,
    title: str,
    abstract: str = "",
    authors: tuple[str, ...] = ("Ada Lovelace",),
    category: str = "cs.LG",
) -> Paper:
    return Paper(f"2504.{number:05d}", 1, title, abstract, authors, (category,), AnnounceType.NEW)


def test_words_fold_case_and_accents_and_drop_stop_words_and_numbers() -> None:
    assert words("The Naïve GRASPING of 3D objects, in 2025 and β") == ["naive", "grasping", "3d", "objects"]


def test_author_terms_are_the_last_name_and_first_initial_folded() -> None:
    assert author_term("Sergey Levine") == "au:levine_s"
    assert author_term("José  Rodríguez") == "au:rodriguez_j"
    assert author_term("Plato") == "au:plato"
    assert author_term("  ") == ""


def test_title_words_weigh_more_than_abstract_words_and_authors_and_categories_are_terms() -> None:
    terms = weighted_terms(paper(1, "Robot grasping", "A robot learns.", ("Sergey Levine",), "cs.RO"))
    assert terms["grasping"] > terms["learns"]
    assert terms["robot"] > terms["grasping"]  # in both title and abstract
    assert "au:levine_s" in terms
    assert "cat:cs.ro" in terms


def test_slots_are_stable_crc32_not_the_process_hash() -> None:
    assert slot("robot") == zlib.crc32(b"robot") & HASH_MASK


def test_vectors_have_unit_length_and_sorted_slots_and_map_back_to_their_terms() -> None:
    vector = vectorize(paper(1, "Robot grasping with tactile sensing", "We grasp objects with touch."))
    assert np.isclose(np.linalg.norm(vector.values), 1.0)
    assert list(vector.slots) == sorted(vector.slots)
    names = terms_by_slot(paper(1, "Robot grasping with tactile sensing", "We grasp objects with touch."))
    assert ["tactile"] in names.values()
    assert vector.dot(vector) == pytest.approx(1.0)


def test_a_paper_with_no_words_is_an_empty_vector_not_an_error() -> None:
    empty = vectorize(Paper("2504.00001", 1, "", "", (), (), AnnounceType.NEW))
    assert empty.slots.size == 0
    assert scores(fit([empty], [empty], []), [empty]).shape == (1,)


def _topic_papers(start: int, topic: str, count: int) -> list[Paper]:
    fillers = ["data", "training", "evaluation", "benchmark", "scaling", "efficiency", "analysis"]
    return [
        paper(
            start + index,
            f"{topic} {fillers[index % len(fillers)]}",
            f"A study of {topic} and {fillers[(index + 3) % 7]}.",
        )
        for index in range(count)
    ]


def test_a_fit_ranks_unseen_papers_of_the_liked_topic_above_those_of_the_disliked_one() -> None:
    liked = _topic_papers(0, "robot manipulation", 6)
    disliked = _topic_papers(100, "speech recognition", 6)
    weak = _topic_papers(200, "graph networks", 40) + _topic_papers(300, "protein folding", 40)
    model = fit([vectorize(p) for p in liked], [vectorize(p) for p in disliked], [vectorize(p) for p in weak])
    unseen_liked = _topic_papers(400, "robot manipulation", 5)
    unseen_disliked = _topic_papers(500, "speech recognition", 5)
    unseen_other = _topic_papers(600, "graph networks", 5)
    good = scores(model, [vectorize(p) for p in unseen_liked])
    bad = scores(model, [vectorize(p) for p in unseen_disliked + unseen_other])
    assert good.min() > bad.max()
    assert ((good >= 0) & (good <= 1)).all()


def test_a_model_keeps_at_most_model_terms_weights_sorted_by_slot() -> None:
    many = [
        paper(index, f"word{index} other{index} more{index}", f"text{index} abs{index}")
        for index in range(600)
    ]
    model = fit([vectorize(p) for p in many[:300]], [vectorize(p) for p in many[300:]], [])
    assert model.slots.size == MODEL_TERMS
    assert list(model.slots) == sorted(model.slots)
    assert (model.liked, model.disliked) == (300, 300)


def test_contributions_name_the_words_that_raised_and_lowered_a_paper() -> None:
    liked = _topic_papers(0, "robot manipulation", 6)
    disliked = _topic_papers(100, "speech recognition", 6)
    model = fit([vectorize(p) for p in liked], [vectorize(p) for p in disliked], [])
    mixed = paper(900, "robot speech", "robot speech")
    slots, amounts = contributions(model, vectorize(mixed))
    by_term = {terms_by_slot(mixed)[int(s)][0]: float(a) for s, a in zip(slots, amounts, strict=True)}
    assert by_term["robot"] > 0 > by_term["speech"]
