"""👍/👎/🔖 on every page, both platforms: within the limits, numbered like the page text, tallies shown."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

import pytest

from adapters.digest_packing import MAX_PER_PAGE, tally_words
from adapters.discord import format as discord_format
from adapters.telegram import format as telegram_format
from bot.models import Digest, LoadedView, Style, VoteTally
from bot.views import FeedbackAction, FeedbackPress, decode_menu_choice, decode_press, view_of
from tests.adapters import test_discord_format as discord_tests
from tests.adapters import test_telegram_format as telegram_tests
from tests.builders import make_listed_paper, one_topic

VIEW_ID = 77
LOTS = VoteTally(123_456, 99_999)  # more than a page shows: "9999+"


def loaded_of(
    digest: Digest,
    platform: str,
    *,
    votes: bool = True,
    tallies: Mapping[str, VoteTally] | None = None,
    view_id: int | None = VIEW_ID,
) -> LoadedView:
    """The digest as a stored view with its papers, votes offered or not, with these tallies."""
    view, papers = view_of(digest, platform, "-100", ("cs.CV", "cs.CL", "cs.LG"))
    view = dataclasses.replace(view, id=view_id)
    return LoadedView(view, view.entries, papers, tallies=dict(tallies or {}), votes=votes)


def small(count: int) -> Digest:
    """`count` papers with one-sentence abstracts: many fit a page, so the caps decide."""
    return one_topic(*(make_listed_paper(n, abstract="A short abstract.") for n in range(1, count + 1)))


def every_tally(loaded: LoadedView, tally: VoteTally) -> LoadedView:
    """The view with every paper voted on like this."""
    return dataclasses.replace(loaded, tallies={paper.arxiv_id: tally for paper in loaded.papers})


DIGESTS = {
    "hostile": lambda: telegram_tests.hostile_digest(),
    "anchor+hostile": lambda: discord_tests.hostile_digest(),
    "60 small": lambda: small(60),
    "one paper": lambda: small(1),
}


@pytest.mark.parametrize("style", list(Style))
@pytest.mark.parametrize("digest_name", list(DIGESTS))
@pytest.mark.parametrize("votes", [True, False], ids=["votes", "votes-off"])
def test_every_page_keeps_both_platforms_limits_with_its_feedback(
    style: Style, digest_name: str, votes: bool
) -> None:
    """Every page of every style, with huge tallies on every paper, keeps Telegram's and Discord's limits
    (≤ 100 buttons, ≤ 8 a row; ≤ 5 rows, ≤ 25 options) and still shows every paper exactly once."""
    digest = DIGESTS[digest_name]()
    telegram = every_tally(loaded_of(digest, "telegram", votes=votes), LOTS)
    discord = every_tally(loaded_of(digest, "discord", votes=votes), LOTS)
    telegram_pages = telegram_tests.all_pages(telegram, style)
    discord_pages = discord_tests.all_pages(discord, style)
    for page in telegram_pages:
        telegram_tests.assert_page_valid(page)
        assert len(page.feedback) == -(-len(page.paper_ids) // (2 if votes else 4))
    for found in discord_pages:
        discord_tests.assert_page_within_limits(found)
        assert len(found.menus) == (3 if votes else 1)
        for menu in found.menus:
            assert [option.value for option in menu.options] == [
                str(index)
                for index, entry in enumerate(discord.view.entries)
                if entry.arxiv_id in found.paper_ids
            ]
    ids = [paper.arxiv_id for paper in telegram.papers]
    assert [paper_id for page in telegram_pages for paper_id in page.paper_ids] == ids
    assert [paper_id for page in discord_pages for paper_id in page.paper_ids] == ids


def test_a_25_paper_titles_page_has_75_feedback_buttons_and_full_pages_hold_at_most_25() -> None:
    """Titles: 25 papers a page, 13 rows of 👍 👎 🔖 (two papers a row) above the page's 5 buttons = 80;
    full pages of papers with tiny abstracts stop at 25 papers too (a select's options)."""
    loaded = loaded_of(small(60), "telegram")
    page = telegram_format.render_page(loaded, style=Style.TITLES)
    assert len(page.paper_ids) == MAX_PER_PAGE[Style.TITLES] == 25
    assert [len(row) for row in page.feedback] == [6] * 12 + [3]
    assert sum(len(row) for row in page.keyboard) == 75 + 5
    for style in (Style.FULL, Style.TITLES):
        for found in discord_tests.all_pages(loaded_of(small(60), "discord"), style):
            assert len(found.paper_ids) <= 25
    assert max(len(p.paper_ids) for p in telegram_tests.all_pages(loaded, Style.FULL)) == 25


def test_telegram_labels_number_the_papers_as_the_page_does_and_carry_the_counts() -> None:
    """Page 2's buttons are `11 👍`, `11 👎`, `11 🔖`, ... numbered as the text numbers the papers;
    a vote count shows on its button (none when 0, none on 🔖), and the data names that paper."""
    loaded = loaded_of(small(30), "telegram")
    eleventh, twelfth = loaded.papers[10].arxiv_id, loaded.papers[11].arxiv_id
    loaded = dataclasses.replace(loaded, tallies={eleventh: VoteTally(2, 0), twelfth: VoteTally(0, 12_000)})
    page = telegram_format.render_page(loaded, page=1)
    assert [button.label for button in page.feedback[0]] == [
        "11 👍2",
        "11 👎",
        "11 🔖",
        "12 👍",
        "12 👎9999+",
        "12 🔖",
    ]
    assert re.search(r"<b>11\. <a href=\"https://arxiv\.org/abs/" + re.escape(eleventh), page.text)
    assert decode_press(page.feedback[0][0].data) == FeedbackPress(
        VIEW_ID, 10, FeedbackAction.UP, 1, Style.COMPACT
    )
    assert decode_press(page.feedback[0][5].data) == FeedbackPress(
        VIEW_ID, 11, FeedbackAction.BOOKMARK, 1, Style.COMPACT
    )
    full = telegram_format.render_page(loaded, style=Style.FULL, page=0)
    assert full.text.count("<b>1. <a href=") == 1  # full blocks are numbered too
    assert full.feedback[0][0].data.endswith(":u:0:f")


def test_with_votes_off_only_the_bookmark_is_offered_and_no_count_shows() -> None:
    """The operator's RANKING off: Telegram pages carry only `n 🔖` (four papers a row), Discord only the
    🔖 menu, and no tally shows anywhere even if the store had some."""
    loaded = loaded_of(small(12), "telegram", votes=False, tallies={})
    page = telegram_format.render_page(every_tally(loaded, VoteTally(3, 1)))
    assert [button.label for button in page.feedback[0]] == ["1 🔖", "2 🔖", "3 🔖", "4 🔖"]
    assert all(decode_press(b.data).action is FeedbackAction.BOOKMARK for row in page.feedback for b in row)  # type: ignore[union-attr]
    found = discord_format.render_page(
        every_tally(loaded_of(small(12), "discord", votes=False), VoteTally(3, 1))
    )
    assert [menu.placeholder for menu in found.menus] == ["🔖 Save a paper for me…"]
    assert "👍" not in found.message.embeds[0]["description"]
    assert found.menus[0].options[0].description == f"arXiv:{found.paper_ids[0]}"


def test_discord_tallies_show_on_the_papers_line_and_never_move_a_page_boundary() -> None:
    """`👍 2 · 👎 1` ends a voted paper's meta line (compact), its title line (titles) or its footer (full),
    and the pages hold the same papers whatever the counts."""
    plain = loaded_of(small(40), "discord")
    voted = dataclasses.replace(plain, tallies={plain.papers[0].arxiv_id: VoteTally(2, 1)})
    compact = discord_format.render_page(voted)
    description = compact.message.embeds[0]["description"]
    assert description.split("\n")[1].endswith(" · new · 👍 2 · 👎 1")
    titles = discord_format.render_page(voted, style=Style.TITLES).message.embeds[0]["description"]
    assert titles.split("\n")[0].endswith(") · 👍 2 · 👎 1")
    assert titles.split("\n")[1].endswith(")")
    full = discord_format.render_page(voted, style=Style.FULL).message.embeds[0]
    assert full["footer"]["text"].endswith(" · 👍 2 · 👎 1")
    assert full["title"].startswith("1. ")
    assert compact.menus[0].options[0].description == f"arXiv:{voted.papers[0].arxiv_id} · 👍 2 · 👎 1"
    assert compact.menus[0].options[0].label.startswith("1. ")
    for style in Style:
        for digest in (small(40), discord_tests.hostile_digest()):
            bare = loaded_of(digest, "discord")
            heavy = every_tally(bare, LOTS)
            assert [p.paper_ids for p in discord_tests.all_pages(bare, style)] == [
                p.paper_ids for p in discord_tests.all_pages(heavy, style)
            ]
    assert tally_words(VoteTally()) == ""
    assert tally_words(LOTS) == "👍 9999+ · 👎 9999+"


def test_discord_page_buttons_are_one_row_above_the_menus() -> None:
    """◀ n/N ▶, the style toggle and the file share one row (5 buttons); the three menus follow."""
    found = discord_format.render_page(loaded_of(small(30), "discord"), page=1)
    assert [[button.label for button in row] for row in found.buttons] == [
        ["◀", "2/3", "▶", "📖 Abstracts", "📄 .md file"]
    ]
    assert [menu.placeholder for menu in found.menus] == [
        "👍 Like a paper…",
        "👎 Dislike a paper…",
        "🔖 Save a paper for me…",
    ]
    assert decode_menu_choice(found.menus[1].data, "12") == FeedbackPress(
        VIEW_ID, 12, FeedbackAction.DOWN, 1, Style.COMPACT
    )
    single = discord_format.render_page(loaded_of(small(1), "discord"))
    assert [len(row) for row in single.buttons] == [2]
    assert [len(menu.options) for menu in single.menus] == [1, 1, 1]


def test_an_unstored_view_gets_no_controls_and_a_pruned_paper_keeps_the_others_indices() -> None:
    """A view without an id gets no buttons or menus; when a paper of a stored view is pruned, the next
    ones are numbered as shown but their data still name their index in the stored view."""
    for platform, render in (
        ("telegram", telegram_format.render_page),
        ("discord", discord_format.render_page),
    ):
        page = render(loaded_of(small(5), platform, view_id=None))
        assert page.buttons == ()
        assert getattr(page, "feedback", ()) == ()
        assert getattr(page, "menus", ()) == ()
    loaded = loaded_of(small(5), "telegram")
    pruned = dataclasses.replace(loaded, entries=loaded.entries[1:], papers=loaded.papers[1:])
    page = telegram_format.render_page(pruned)
    assert page.feedback[0][0].label == "1 👍"
    assert decode_press(page.feedback[0][0].data) == FeedbackPress(
        VIEW_ID, 1, FeedbackAction.UP, 0, Style.COMPACT
    )
    menus = discord_format.render_page(
        dataclasses.replace(pruned, view=dataclasses.replace(pruned.view, platform="discord"))
    )
    assert [option.value for option in menus.menus[0].options] == ["1", "2", "3", "4"]
