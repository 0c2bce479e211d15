"""Reading rss.arxiv.org feeds: real recorded feeds, the anchor's listing, and every kind of broken body."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from pathlib import Path

import pytest

from bot.feeds import (
    ArxivFeedError,
    BrokenFeedError,
    NoAnnouncement,
    parse_feed,
    parse_feed_file,
    split_authors,
)
from bot.models import Announcement, AnnounceType
from tests.fakes.arxiv_server import FIXTURES, HTML_PAGE

SAMPLE = FIXTURES / "rss" / "all-archives-2024-11-28-sample.xml"
ANCHOR = FIXTURES / "anchor" / "listing-2025-11-12.rss.xml"
ANCHOR_CATEGORIES = ("cs.AI", "cs.CL", "cs.CV", "cs.LG", "cs.MA", "cs.RO")
MLLM_KEYWORDS = (
    "VLM",
    "MLM",
    "MLLM",
    "Multi-Modal Language Model",
    "Multimodal Language Model",
    "Vision Language Model",
)

HEADER = b"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">
  <channel>
    <title>cs.CL updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/cs.CL</link>
    <description>cs.CL updates on the arXiv.org e-print archive.</description>
"""


def synthetic_feed(items: str, pub_date: str | None = "Wed, 12 Nov 2025 00:00:00 -0500") -> bytes:
    """A small feed in rss.arxiv.org's format around hand-written items (for cases no recording has)."""
    date = f"    <pubDate>{pub_date}</pubDate>\n" if pub_date else ""
    return HEADER + date.encode() + items.encode() + b"  </channel>\n</rss>\n"


def item(description: str, *, guid: str = "", extra: str = "", title: str = "A title") -> str:
    """One synthetic `<item>`."""
    guid_line = f"<guid isPermaLink='false'>{guid}</guid>" if guid else ""
    return (
        f"<item><title>{title}</title><description>{description}</description>{guid_line}"
        f"<category>cs.CL</category><dc:creator>Ada Lovelace</dc:creator>{extra}</item>\n"
    )


def anchor() -> Announcement:
    """The anchor's listing, parsed."""
    parsed = parse_feed_file(ANCHOR, ANCHOR_CATEGORIES)
    assert isinstance(parsed, Announcement)
    return parsed


def test_anchor_listing_has_all_496_papers_of_12_november() -> None:
    """The anchor's listing reads as the 12 Nov 2025 announcement: 496 papers, 327 new and 169 replaced."""
    announcement = anchor()
    assert announcement.date == dt.date(2025, 11, 12)
    assert announcement.source == "rss"
    assert announcement.categories == ANCHOR_CATEGORIES
    assert len(announcement.papers) == 496
    assert len({paper.arxiv_id for paper in announcement.papers}) == 496
    counts = Counter(paper.announce_type for paper in announcement.papers)
    assert counts == {AnnounceType.NEW: 327, AnnounceType.REPLACE: 169}


def test_anchor_first_paper_is_read_field_by_field() -> None:
    """Id, version, title, abstract, all authors and categories (primary first) come from the item."""
    first = anchor().papers[0]
    assert (first.arxiv_id, first.version) == ("2511.08585", 1)
    assert first.title == "Simulating the Visual World with Artificial Intelligence: A Roadmap"
    assert first.abstract.startswith("The landscape of video generation is shifting, from a focus")
    assert first.abstract.endswith("An up-to-date list of related works is maintained at this link.")
    assert first.authors == (
        "Jingtong Yue",
        "Ziqi Huang",
        "Zhaoxi Chen",
        "Xintao Wang",
        "Pengfei Wan",
        "Ziwei Liu",
    )
    assert first.categories == ("cs.AI", "cs.CV")
    assert first.announce_type is AnnounceType.NEW


def test_anchor_text_is_kept_so_the_anchor_rule_selects_its_34_papers() -> None:
    """Titles and abstracts are not altered: the anchor's substring rule picks exactly MLLM.md's papers."""
    expected = set(re.findall(r"arxiv\.org/abs/([0-9.]+)\)", (FIXTURES / "anchor" / "MLLM.md").read_text()))
    selected = {
        paper.arxiv_id
        for paper in anchor().papers
        if any(word.lower() in f"{paper.title} {paper.abstract}".lower() for word in MLLM_KEYWORDS)
    }
    assert len(expected) == 34
    assert selected == expected


def test_all_archives_sample_reads_types_categories_and_references() -> None:
    """The recorded feed gives new/cross/replace items, every category in order, DOI and journal ref."""
    announcement = parse_feed_file(SAMPLE)
    assert isinstance(announcement, Announcement)
    assert announcement.date == dt.date(2024, 11, 28)
    assert {"cs", "astro-ph"} <= set(announcement.categories)  # from the channel link
    assert len(announcement.papers) == 20
    counts = Counter(paper.announce_type for paper in announcement.papers)
    assert counts == {AnnounceType.NEW: 13, AnnounceType.CROSS: 3, AnnounceType.REPLACE: 4}

    by_id = {paper.arxiv_id: paper for paper in announcement.papers}
    with_refs = by_id["2411.17758"]
    assert with_refs.doi == "10.1016/j.segan.2024.101477"
    assert (
        with_refs.journal_ref
        == "Sustainable Energy, Grids and Networks, Volume 39, 2024, 101477, ISSN 2352-4677"
    )
    assert with_refs.authors == ("Kamil Erdayandi", "Mustafa Asan Mustafa")
    assert (by_id["2411.17700"].doi, by_id["2411.17700"].journal_ref) == (None, None)

    cross = by_id["2411.16552"]
    assert cross.announce_type is AnnounceType.CROSS
    assert cross.categories == ("stat.AP", "cs.LG", "econ.EM", "stat.ME", "stat.ML")
    replaced = by_id["2202.06515"]
    assert (replaced.version, replaced.announce_type) == (3, AnnounceType.CROSS)
    assert by_id["2207.07683"].announce_type is AnnounceType.REPLACE
    assert by_id["2207.07683"].version == 4


def test_authors_with_affiliations_stay_whole() -> None:
    """Commas inside an author's parenthesised affiliation do not split the author."""
    announcement = parse_feed_file(SAMPLE)
    assert isinstance(announcement, Announcement)
    by_id = {paper.arxiv_id: paper for paper in announcement.papers}
    assert by_id["2411.17748"].authors == (
        "Mohammed Riadh Berramdane (IFPEN)",
        "Alexandre Battiston (IFPEN)",
        "Michele Bardi (IFPEN)",
        "Nicolas Blet (LEMTA)",
        "Benjamin R\\'emy (LEMTA)",
        "Matthieu Urbain (LEMTA)",
    )
    penc = by_id["2402.19390"].authors
    assert len(penc) == 6
    assert "Gergely Zar\\'and" in penc


@pytest.mark.parametrize(
    ("creator", "expected"),
    [
        ("A. Smith, B. Jones, and C. Brown", ("A. Smith", "B. Jones", "C. Brown")),
        ("A. Smith, B. Jones and C. Brown", ("A. Smith", "B. Jones", "C. Brown")),
        ("A. Smith and B. Jones", ("A. Smith", "B. Jones")),
        ("X (Andrew and Peggy Cherng Dept, Caltech), Y", ("X (Andrew and Peggy Cherng Dept, Caltech)", "Y")),
        ("Alexander Anderson, Sandra Andrews", ("Alexander Anderson", "Sandra Andrews")),
        ("  Ada   Lovelace ,\n Charles Babbage ", ("Ada Lovelace", "Charles Babbage")),
    ],
)
def test_split_authors(creator: str, expected: tuple[str, ...]) -> None:
    """`dc:creator` splits on commas outside parentheses and on a free-standing `and`."""
    assert split_authors([creator]) == expected


def test_empty_feed_is_no_announcement() -> None:
    """A valid feed without items (holiday) is NoAnnouncement with the feed's date, not an error."""
    result = parse_feed((FIXTURES / "rss" / "empty-feed.xml").read_bytes(), ["test"])
    assert isinstance(result, NoAnnouncement)
    assert result.date == dt.date(2024, 11, 28)
    assert "holiday" in result.reason


def test_empty_feed_on_a_skip_day_names_the_weekday() -> None:
    """An empty Saturday feed says it is one of the feed's skipDays."""
    data = (
        (FIXTURES / "rss" / "empty-feed.xml").read_bytes().replace(b"Thu, 28 Nov 2024", b"Sat, 30 Nov 2024")
    )
    result = parse_feed(data, ["test"])
    assert isinstance(result, NoAnnouncement)
    assert result == NoAnnouncement(dt.date(2024, 11, 30), result.reason)
    assert "Saturday" in result.reason
    assert "skipDays" in result.reason


def test_error_feed_raises_with_arxivs_description() -> None:
    """arXiv's 200-with-an-error feed raises ArxivFeedError carrying arXiv's own words."""
    with pytest.raises(ArxivFeedError, match="Bad archive 'astroph'"):
        parse_feed((FIXTURES / "rss" / "error-feed.xml").read_bytes(), ["astroph"])


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.999])
def test_truncated_feed_is_broken(keep: float) -> None:
    """A feed cut off anywhere is BrokenFeedError, never a partial announcement."""
    data = SAMPLE.read_bytes()
    with pytest.raises(BrokenFeedError, match="not well-formed"):
        parse_feed(data[: int(len(data) * keep)], ["cs.CL"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (HTML_PAGE, "HTML page"),
        (b"<html><body><p>Maintenance</p></body></html>", "HTML page"),
        (b"", "empty"),
        (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"></feed>', "not an RSS feed"),
        (b'<?xml version="1.0"?><rss version="2.0"></rss>', "without a <channel>"),
        (b"Service Unavailable", "not well-formed"),
    ],
)
def test_bodies_that_are_not_rss_are_broken(body: bytes, message: str) -> None:
    """HTML pages, empty bodies, other XML and RSS without a channel are BrokenFeedError."""
    with pytest.raises(BrokenFeedError, match=message):
        parse_feed(body, ["cs.CL"])


@pytest.mark.parametrize("body", [HTML_PAGE, b"Service Unavailable", b"<rss><channel><title>x"])
def test_broken_feed_messages_carry_no_lxml_source_tail(body: bytes) -> None:
    """lxml's `(<string>, line 1)` is cut from broken-feed messages; the line and column stay."""
    with pytest.raises(BrokenFeedError) as caught:
        parse_feed(body, ["cs.CL"])
    assert "<string>" not in str(caught.value)
    assert "line" in str(caught.value)


@pytest.mark.parametrize(
    ("pub_date", "reason"),
    [
        (
            b"Sat, 30 Nov 2024",
            "no announcement for Saturday 2024-11-30 (none on Saturdays: the feed's skipDays)",
        ),
        (b"Thu, 28 Nov 2024", "no announcement for Thursday 2024-11-28 (an arXiv holiday, or nothing in"),
    ],
)
def test_no_announcement_reasons_say_it_once(pub_date: bytes, reason: str) -> None:
    """A no-announcement reason is one sentence naming the day, saying "no announcement" once."""
    data = (FIXTURES / "rss" / "empty-feed.xml").read_bytes().replace(b"Thu, 28 Nov 2024", pub_date)
    result = parse_feed(data, ["test"])
    assert isinstance(result, NoAnnouncement)
    assert result.reason.startswith(reason)
    assert result.reason.count("no announcement") == 1


def test_item_without_id_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """One unreadable item is dropped (logged); the others still make the announcement."""
    data = synthetic_feed(
        item("arXiv:2511.00001v1 Announce Type: new \nAbstract: Kept.")
        + item("No id here at all", title="Orphan")
    )
    with caplog.at_level(logging.WARNING, logger="bot.feeds"):
        result = parse_feed(data, ["cs.CL"])
    assert isinstance(result, Announcement)
    assert [paper.arxiv_id for paper in result.papers] == ["2511.00001"]
    assert "without an arXiv id" in caplog.text
    assert "Orphan" in caplog.text


def test_feed_whose_items_all_lack_ids_is_broken() -> None:
    """A feed with items of which none can be read is broken, not an empty announcement."""
    with pytest.raises(BrokenFeedError, match="none of the feed's 1 items"):
        parse_feed(synthetic_feed(item("nothing")), ["cs.CL"])


def test_old_style_ids_and_guid_fallback() -> None:
    """Old-style ids (`hep-th/9901001`) are read from the description, or from the guid if need be."""
    data = synthetic_feed(
        item(
            "arXiv:hep-th/9901001v2 Announce Type: replace \nAbstract: Strings.",
            extra="<arxiv:announce_type>replace</arxiv:announce_type>",
        )
        + item("Abstract: only an abstract", guid="oai:arXiv.org:math.GT/0309136v3")
        + item("Abstract: new style", guid="oai:arXiv.org:2511.00002v1")
    )
    result = parse_feed(data, ["cs.CL"])
    assert isinstance(result, Announcement)
    got = [(paper.arxiv_id, paper.version, paper.announce_type) for paper in result.papers]
    assert got == [
        ("hep-th/9901001", 2, AnnounceType.REPLACE),
        ("math.GT/0309136", 3, AnnounceType.NEW),
        ("2511.00002", 1, AnnounceType.NEW),
    ]
    assert result.papers[0].abstract == "Strings."


def test_abstract_keeps_inner_whitespace_and_title_is_collapsed() -> None:
    """The abstract is the text after `Abstract: ` with only its ends stripped; the title is one line."""
    data = synthetic_feed(
        item(
            "arXiv:2511.00003v1 Announce Type: new \nAbstract:  Two  spaces\nand a line.  ",
            title="A  title\n   on two lines",
        )
    )
    result = parse_feed(data, ["cs.CL"])
    assert isinstance(result, Announcement)
    assert result.papers[0].abstract == "Two  spaces\nand a line."
    assert result.papers[0].title == "A title on two lines"


def test_date_is_the_stated_calendar_date_not_converted() -> None:
    """`Wed, 12 Nov 2025 23:30:00 -0500` is 12 November (not the 13th it is in UTC)."""
    data = synthetic_feed(item("arXiv:2511.00004v1 Announce Type: new"), "Wed, 12 Nov 2025 23:30:00 -0500")
    result = parse_feed(data, ["cs.CL"])
    assert isinstance(result, Announcement)
    assert result.date == dt.date(2025, 11, 12)


def test_date_falls_back_to_the_items_pubdate() -> None:
    """Without a channel pubDate the items' pubDate gives the date; with neither, the feed is broken."""
    dated = item(
        "arXiv:2511.00005v1 Announce Type: new", extra="<pubDate>Thu, 13 Nov 2025 00:00:00 -0500</pubDate>"
    )
    result = parse_feed(synthetic_feed(dated, pub_date=None), ["cs.CL"])
    assert isinstance(result, Announcement)
    assert result.date == dt.date(2025, 11, 13)
    with pytest.raises(BrokenFeedError, match="no date"):
        parse_feed(synthetic_feed(item("arXiv:2511.00005v1 Announce Type: new"), pub_date=None), ["cs.CL"])


def test_external_entities_are_not_resolved(tmp_path: Path) -> None:
    """A feed cannot make the parser read local files (no entity expansion, no network)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    data = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file://'
        + str(secret).encode()
        + b'">]>'
        + synthetic_feed(item("arXiv:2511.00006v1 Announce Type: new", title="&x;")).split(b"?>", 1)[1]
    )
    result = parse_feed(data, ["cs.CL"])
    assert isinstance(result, Announcement)
    assert "TOP-SECRET" not in result.papers[0].title


def test_categories_asked_for_are_sorted_and_unique() -> None:
    """The announcement records the asked categories sorted and de-duplicated."""
    result = parse_feed(
        synthetic_feed(item("arXiv:2511.00007v1 Announce Type: new")), ["cs.CV", "cs.CL", "cs.CV"]
    )
    assert isinstance(result, Announcement)
    assert result.categories == ("cs.CL", "cs.CV")
