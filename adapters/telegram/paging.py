"""A digest view as one Telegram message with an inline keyboard, and the presses that turn its pages.

The page's text and buttons are `adapters.telegram.format.render_page`'s; this module makes them
python-telegram-bot values (`InlineKeyboardMarkup`) and answers a press: `answerCallbackQuery` first
(Telegram shows a spinner on the button until then, and refuses answers after a few seconds), then
the view is looked up in the store by the id the button names and the message edited in place.
Nothing is kept in memory, so a press on a message sent before a restart works the same.

A 👍/👎/🔖 press is recorded by the core's `FeedbackService` for the member who pressed it and
answered with its words; when the chat's counts changed, the keyboard is redrawn with them. In a busy
group many members vote on one message at once: redraws of one message are coalesced (while one edit
waits for the chat's turn in the rate limiter, later presses only mark the message stale, and one
more edit with the counts as they are then follows), and an edit that would change nothing is skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ExtBot

from adapters.digest_packing import Button
from adapters.telegram.errors import is_parse_error
from adapters.telegram.format import (
    TelegramMessage,
    TelegramPage,
    escape_html,
    render_chat_file,
    render_page,
    render_plain_text,
)
from adapters.telegram.ratelimit import ANSWER_PRIORITY
from bot.feedback import FeedbackOutcome, FeedbackService
from bot.models import Channel, LoadedView
from bot.platforms.lifecycle import APOLOGY
from bot.platforms.port import OutgoingMessage
from bot.views import FeedbackPress, FilePress, NoopPress, PagePress, ViewService, decode_press

log = logging.getLogger(__name__)

PLATFORM = "telegram"
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
GONE = "This digest is no longer kept."
# How long a press's answer may wait for the view look-up, so that a gone view can say so in the
# answer itself; past this the press is answered plainly and the look-up goes on (Telegram wants the
# answer within seconds, and the issue within one).
LOOKUP_GRACE = 0.25
NO_FEEDBACK = "Feedback is not taken on this bot."


def keyboard(buttons: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    """The page's buttons as an inline keyboard (None when the page has none)."""
    rows = [
        [InlineKeyboardButton(button.label, callback_data=button.data) for button in row] for row in buttons
    ]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None


def file_caption(loaded: LoadedView) -> str:
    """The chat file's one-line caption (HTML)."""
    view = loaded.view
    count = len(loaded.papers)
    papers = "paper" if count == 1 else "papers"
    return escape_html(
        f"📄 arXiv digest of {view.announcement_date.isoformat()}: {count} {papers} as Markdown"
    )


def digest_messages(loaded: LoadedView, channel: Channel) -> list[OutgoingMessage]:
    """The digest's one paged message (page 1, the keyboard, every paper of the view), then the file if asked.

    The page notifies; the file, when `channel.send_file`, follows silently and carries no papers.
    """
    page = render_page(loaded)
    messages = [
        OutgoingMessage(
            text=page.text,
            paper_ids=tuple(entry.arxiv_id for entry in loaded.entries),
            payload=keyboard(page.keyboard),
        )
    ]
    if channel.send_file:
        messages.append(chat_file_message(loaded))
    return messages


def chat_file_message(loaded: LoadedView) -> OutgoingMessage:
    """The view as a silent Markdown document."""
    name, data = render_chat_file(loaded)
    return OutgoingMessage(text=file_caption(loaded), document_name=name, document=data, silent=True)


class _Redraw:
    """One message's keyboard redraws in progress: the newest press asking for one, what was last shown."""

    __slots__ = ("shown", "wanted")

    def __init__(self, press: FeedbackPress, shown: InlineKeyboardMarkup | None) -> None:
        self.wanted: FeedbackPress | None = press  # set: a redraw is due (the newest press's page)
        self.shown = shown  # the keyboard the message has now, as far as this process knows


class PressHandler:
    """Answers inline-button presses on digest messages: a page, the file, the label between the
    arrows, or a paper's 👍/👎/🔖."""

    def __init__(self, views: ViewService, bot: ExtBot[Any], feedback: FeedbackService | None = None) -> None:
        """Look views up in `views`; record feedback in `feedback` (None: refused); answer through `bot`
        (the application's, with its rate limiter)."""
        self._views = views
        self._bot = bot
        self._feedback = feedback
        self._redraws: dict[tuple[int, int], _Redraw] = {}  # (chat, message) → its redraw in progress
        self.edits = 0  # digest-message edits sent (for tests and reports)

    async def handle(self, query: CallbackQuery) -> None:
        """Answer the press at once, then show the page (or send the file) it asks for."""
        press = decode_press(query.data or "")
        message = query.message
        if press is None or isinstance(press, NoopPress) or not isinstance(message, Message):
            await self._answer(query)  # a label, forged data, or a message too old to be shown
            return
        if isinstance(press, FeedbackPress):
            await self._give_feedback(query, message, press)
            return
        lookup = asyncio.ensure_future(self._views.load(press.view_id, PLATFORM, str(message.chat.id)))
        try:
            done, _ = await asyncio.wait({lookup}, timeout=LOOKUP_GRACE)
            if done and lookup.result() is None:
                await self._answer(query, GONE, alert=True)
                return
            await self._answer(query)
            loaded = await lookup
        finally:
            if not lookup.done():
                lookup.cancel()
        if loaded is None:
            return
        if isinstance(press, PagePress):
            await self._show(message, loaded, press)
        elif isinstance(press, FilePress):
            await self._send_file(message, loaded)

    @staticmethod
    async def _answer(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
        """answerCallbackQuery; a press answered too late is only logged (the user tapped again)."""
        try:
            await query.answer(text=text, show_alert=alert or None)
        except BadRequest as error:
            log.info("could not answer a button press in time: %s", error.message)

    async def _give_feedback(self, query: CallbackQuery, message: Message, press: FeedbackPress) -> None:
        """Record a 👍/👎/🔖 for the presser and answer with what it did; redraw the counts if they changed.

        The answer waits for the work up to `LOOKUP_GRACE` (so it can say what was done); past that
        the press is answered plainly and the redrawn keyboard is the confirmation.
        """
        feedback = self._feedback
        if feedback is None:
            await self._answer(query, NO_FEEDBACK, alert=True)
            return
        chat_id, user_id = str(message.chat.id), str(query.from_user.id)

        async def record() -> FeedbackOutcome | None:
            """The press applied to the view it names in this chat; None when that view is gone."""
            loaded = await self._views.load(press.view_id, PLATFORM, chat_id)
            return None if loaded is None else await feedback.press(loaded, press, user_id)

        work = asyncio.ensure_future(record())
        done, _ = await asyncio.wait({work}, timeout=LOOKUP_GRACE)
        if not done:
            await self._answer(query)
        try:
            outcome = await work
        except Exception:
            log.exception("a feedback press on digest view %s failed", press.view_id)
            if done:
                await self._answer(query, APOLOGY, alert=True)
            return
        if done:
            if outcome is None:
                await self._answer(query, GONE, alert=True)
            else:
                await self._answer(query, outcome.answer, alert=outcome.alert)
        if outcome is not None and outcome.changed_page:
            await self._redraw(message, press)

    async def _redraw(self, message: Message, press: FeedbackPress) -> None:
        """Show the chat's new counts on the message's page, coalescing the redraws of one message.

        While an edit of this message is under way (waiting for the chat's turn in the rate limiter,
        or in flight), a newer press only asks for one more redraw; that one reads the counts as they
        are when it starts, so a burst of votes costs two edits, not one each.
        """
        key = (message.chat.id, message.message_id)
        running = self._redraws.get(key)
        if running is not None:
            running.wanted = press  # the running redraw picks it up when its edit is done
            return
        state = self._redraws[key] = _Redraw(press, message.reply_markup)
        try:
            while state.wanted is not None:
                wanted, state.wanted = state.wanted, None
                loaded = await self._views.load(wanted.view_id, PLATFORM, str(message.chat.id))
                if loaded is None:
                    return
                page = render_page(loaded, style=wanted.style, page=wanted.page)
                markup = keyboard(page.keyboard)
                if markup == state.shown:
                    continue  # the counts came back to what the message shows (a vote and its undo)
                await self._edit(message, page, markup)
                state.shown = markup
        except TelegramError as error:
            log.warning("could not redraw the counts on message %s: %s", message.message_id, error)
        finally:
            del self._redraws[key]

    async def _show(self, message: Message, loaded: LoadedView, press: PagePress) -> None:
        """Edit the digest message to the asked page (an edit that changes nothing is fine)."""
        page = render_page(loaded, style=press.style, page=press.page)
        await self._edit(message, page, keyboard(page.keyboard))

    async def _edit(self, message: Message, page: TelegramPage, markup: InlineKeyboardMarkup | None) -> None:
        """Edit the digest message to this page (as plain text if Telegram rejects its HTML)."""
        bot = self._bot
        self.edits += 1
        try:
            await bot.edit_message_text(
                page.text,
                chat_id=message.chat.id,
                message_id=message.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=NO_PREVIEW,
                rate_limit_args=ANSWER_PRIORITY,
            )
        except BadRequest as error:
            if "not modified" in error.message.lower():
                return  # two quick presses on the same arrow: the page is already there
            if not is_parse_error(error):
                raise
            log.warning("Telegram rejected a digest page (%s); showing it as plain text", error.message)
            plain = render_plain_text(TelegramMessage(text=page.text, paper_ids=page.paper_ids))
            await bot.edit_message_text(
                plain,
                chat_id=message.chat.id,
                message_id=message.message_id,
                reply_markup=markup,
                rate_limit_args=ANSWER_PRIORITY,
            )

    async def _send_file(self, message: Message, loaded: LoadedView) -> None:
        """Send the view's Markdown file silently, replying to the digest message."""
        name, data = render_chat_file(loaded)
        try:
            await self._bot.send_document(
                chat_id=message.chat.id,
                document=InputFile(data, filename=name),
                caption=file_caption(loaded),
                parse_mode=ParseMode.HTML,
                disable_notification=True,
                message_thread_id=message.message_thread_id if message.is_topic_message else None,
                reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True),
                rate_limit_args=ANSWER_PRIORITY,
            )
        except TelegramError as error:
            log.warning("could not send a digest file to %s: %s", message.chat.id, error)
