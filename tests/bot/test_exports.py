"""BibTeX and RIS exports, read back with real parsers (bibtexparser 2, rispy): one entry per paper,
the paper's fields, arXiv's keys, and odd titles that survive."""

from __future__ import annotations

import pytest

from bot.exports import (
    arxiv_key,
    balanced_braces,
    paper_year,
    render_bibtex,
    render_ris,
    ris_author,
    split_name,
    unique_keys,
)
from bot.models import Paper
from tests.builders import make_paper
from tests.citations import parsed_bibtex, parsed_ris, undo_our_escapes

ODD_TITLES = (
    "Braces {Inside} and {Nested {Deep}} Titles",
    "100% Accurate & Fast: #1 in Benchmarks",
    r"GPT-4$^\text{N}$ and $\alpha$-Divergence",
    "Ünïcödé Réseaux — 深度学习 for Ελληνικά",
    r"Already Escaped \& Kept: 50\% Off",
)


def test_bibtex_is_arxivs_misc_entry_with_the_papers_fields() -> None:
    """Each paper is one @misc entry with arXiv's fields: title, authors "First Last and …", year from the
    id, eprint, archivePrefix arXiv, primaryClass, url; a doi only when the paper has one."""
    papers = [
        make_paper("2511.07738", "Attention Is All You Need", authors=("Ashish Vaswani", "Noam Shazeer")),
        make_paper("2512.00001", "Second", categories=("cs.CV",), doi="10.1000/xyz"),
    ]
    entries = parsed_bibtex(render_bibtex(papers))
    assert len(entries) == 2
    first, second = entries
    assert first == {
        "ID": "vaswani2025attentionneed",
        "ENTRYTYPE": "misc",
        "title": "Attention Is All You Need",
        "author": "Ashish Vaswani and Noam Shazeer",
        "year": "2025",
        "eprint": "2511.07738",
        "archivePrefix": "arXiv",
        "primaryClass": "cs.CL",
        "url": "https://arxiv.org/abs/2511.07738",
    }
    assert second["doi"] == "10.1000/xyz"
    assert second["primaryClass"] == "cs.CV"
    assert "doi" not in first


@pytest.mark.parametrize(
    ("title", "authors", "arxiv_id", "key"),
    [
        ("Attention Is All You Need", ("Ashish Vaswani",), "1706.03762", "vaswani2017attentionneed"),
        (
            "TensorFlow: Large-Scale Machine Learning on Heterogeneous Systems",
            ("Martín Abadi",),
            "1603.04467",
            "abadi2016tensorflowlargescalemachinelearning",
        ),
        ("The Theory of Everything", ("Jane Roe Jr.",), "hep-th/9901001", "roe1999theory"),
        ("A Survey", (), "2401.00001", "unknown2024survey"),
    ],
)
def test_keys_are_made_as_arxiv_makes_them(
    title: str, authors: tuple[str, ...], arxiv_id: str, key: str
) -> None:
    """Last name of the first author + the year + the first four title words that are not stop words,
    lower-cased, letters and digits only (arXiv's "Export BibTeX Citation")."""
    assert arxiv_key(make_paper(arxiv_id, title, authors=authors)) == key


def test_repeated_keys_get_letters_like_bibliography_managers_give() -> None:
    """Two papers that would share a key are told apart within one file: key, keya, keyb, …"""
    papers = [make_paper(f"2511.0000{n}", "Equal Title", authors=("Ada Lovelace",)) for n in range(1, 4)]
    keys = [entry["ID"] for entry in parsed_bibtex(render_bibtex(papers))]
    assert keys == ["lovelace2025equaltitle", "lovelace2025equaltitlea", "lovelace2025equaltitleb"]
    assert unique_keys(["k"] * 28)[-2:] == ["kz", "kaa"]


@pytest.mark.parametrize("title", ODD_TITLES)
def test_odd_titles_parse_and_survive(title: str) -> None:
    """Braces, %, &, #, TeX math and non-ASCII: the file parses and the title reads back as typed."""
    paper = make_paper("2511.00001", title)
    [entry] = parsed_bibtex(render_bibtex([paper]))
    assert undo_our_escapes(entry["title"]) == undo_our_escapes(title)
    [record] = parsed_ris(render_ris([paper]))
    assert record["title"] == title


def test_unbalanced_braces_are_dropped_so_the_file_still_parses() -> None:
    """A title with a lone brace would swallow the rest of the file; the lone brace goes, the rest stays."""
    assert balanced_braces("a } b { c {d} e") == "a  b  c {d} e"
    papers = [make_paper("2511.00001", "Broken { Title"), make_paper("2511.00002", "Other } One")]
    entries = parsed_bibtex(render_bibtex(papers))
    assert [entry["title"] for entry in entries] == ["Broken  Title", "Other  One"]


def test_author_names_bibtex_would_misread_are_braced() -> None:
    """A name with a comma or an " and " (a collaboration) stays one author."""
    paper = make_paper("2511.00001", authors=("Tom and Jerry Lab", "Doe, Jane", "Ada Lovelace"))
    [entry] = parsed_bibtex(render_bibtex([paper]))
    assert entry["author"] == "{Tom and Jerry Lab} and {Doe, Jane} and Ada Lovelace"


def test_ris_records_carry_the_papers_fields() -> None:
    """TY UNPB, TI, AU "Last, First" per author, PY, AB, UR, DO when present, the id (ID and N1), ER."""
    papers = [
        make_paper("2511.07738", "First", authors=("Ada Lovelace", "Martin Luther King Jr."), doi="10.1/x"),
        make_paper("2511.07739", "Second", abstract="Line one.\nLine two."),
    ]
    text = render_ris(papers)
    assert text.count("\r\n") == text.count("\n"), "every line ends in CRLF"
    first, second = parsed_ris(text)
    assert first["type_of_reference"] == "UNPB"
    assert first["id"] == "2511.07738"
    assert first["title"] == "First"
    assert first["authors"] == ["Lovelace, Ada", "King, Martin Luther, Jr."]
    assert first["year"] == "2025"
    assert first["abstract"] == "Abstract of 2511.07738."
    assert first["urls"] == ["https://arxiv.org/abs/2511.07738"]
    assert first["doi"] == "10.1/x"
    assert first["keywords"] == ["cs.CL", "cs.LG"]
    assert first["notes"] == ["arXiv:2511.07738 [cs.CL]"]
    assert second["abstract"] == "Line one. Line two."
    assert "doi" not in second


def test_names_and_years() -> None:
    """Names split on the last word (a suffix kept apart); years come from new- and old-style ids."""
    assert split_name("Émilie du Châtelet") == ("Émilie du", "Châtelet", "")
    assert split_name("Plato") == ("", "Plato", "")
    assert ris_author("Plato") == "Plato"
    years = {i: paper_year(make_paper(i)) for i in ("0704.0001", "2511.07738", "math.GT/0309136")}
    assert years == {"0704.0001": "2007", "2511.07738": "2025", "math.GT/0309136": "2003"}
    assert paper_year(make_paper("hep-th/9108001")) == "1991"


def test_nothing_to_export_is_an_empty_file() -> None:
    """No papers: an empty file each, which both parsers read as no entries."""
    empty: list[Paper] = []
    assert parsed_bibtex(render_bibtex(empty)) == []
    assert render_ris(empty) == ""
