"""Papers as citation files: BibTeX in arXiv's own format, and RIS that Zotero imports. Pure, no I/O.

BibTeX follows arXiv's "Export BibTeX Citation" (arxiv-browse, browse/formatting/cite.py): an `@misc` entry
with title, author ("First Last and …"), year, eprint, archivePrefix={arXiv}, primaryClass and url, keyed
like arXiv keys it: the first author's last name, the year and the title's first four words that are not
stop words, lower-cased, letters and digits only (`vaswani2017attentionneed`). arXiv takes the year of
the paper's latest version, which a listing does not carry: here it is the year in the id (the first
version's month), the same for a new paper. Keys repeated within a file get a, b, c, … as bibliography
managers do. Titles stay as typed (TeX included); only what breaks BibTeX or LaTeX is protected:
unbalanced braces are dropped, and a bare `&`, `%` or `#` is escaped.

RIS has no preprint type; `UNPB` (unpublished work) is the nearest. Zotero's RIS import maps the tags
written here to its fields (TI title, AU creators as "Last, First", PY date, AB abstract, UR url, DO DOI,
KW tags, N1 note); lines end in CRLF as the RIS specification asks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from bot.models import Paper

BIBTEX_SUFFIX = ".bib"
RIS_SUFFIX = ".ris"

# The stop words arXiv skips when it makes a BibTeX key: the Glasgow IR stop list, with arXiv's spellings
# ("fify", "thickv", and no "i").
_STOPWORD_TEXT = """
    a about above across after afterwards again against all almost alone along already also although
    always am among amongst amoungst amount an and another any anyhow anyone anything anyway
    anywhere are around as at back be became because become becomes becoming been before beforehand
    behind being below beside besides between beyond bill both bottom but by call can cannot cant co
    con could couldnt cry de describe detail do done down due during each eg eight either eleven
    else elsewhere empty enough etc even ever every everyone everything everywhere except few
    fifteen fify fill find fire first five for former formerly forty found four from front full
    further get give go had has hasnt have he hence her here hereafter hereby herein hereupon hers
    herself him himself his how however hundred ie if in inc indeed interest into is it its itself
    keep last latter latterly least less ltd made many may me meanwhile might mill mine more
    moreover most mostly move much must my myself name namely neither never nevertheless next nine
    no nobody none noone nor not nothing now nowhere of off often on once one only onto or other
    others otherwise our ours ourselves out over own part per perhaps please put rather re same see
    seem seemed seeming seems serious several she should show side since sincere six sixty so some
    somehow someone something sometime sometimes somewhere still such system take ten than that the
    their them themselves then thence there thereafter thereby therefore therein thereupon these
    they thickv thin third this those though three through throughout thru thus to together too top
    toward towards twelve twenty two un under until up upon us very via was we well were what
    whatever when whence whenever where whereafter whereas whereby wherein whereupon wherever
    whether which while whither who whoever whole whom whose why will with within without would yet
    you your yours yourself yourselves
"""
ARXIV_KEY_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
KEY_TITLE_WORDS = 4  # arXiv keys take up to this many of the title's words
_NAME_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})
_NEW_STYLE_ID = re.compile(r"^(\d{2})(\d{2})\.\d{4,5}$")  # 0704.0001 onwards: YYMM.NNNN(N)
_OLD_STYLE_ID = re.compile(r"^[a-z-]+(?:\.[A-Z]{2})?/(\d{2})(\d{2})\d{3}$")  # hep-th/9901001
_UNESCAPED_SPECIAL = re.compile(r"(?<!\\)([&%#])")


def _one_line(text: str) -> str:
    """Whitespace (newlines included) collapsed to single spaces."""
    return " ".join(text.split())


def paper_year(paper: Paper) -> str:
    """The year in the paper's arXiv id (`2511.07738` → 2025, `hep-th/9901001` → 1999), else "unknown"."""
    match = _NEW_STYLE_ID.match(paper.arxiv_id) or _OLD_STYLE_ID.match(paper.arxiv_id)
    if match is None:
        return "unknown"
    two_digits = int(match[1])
    # Old-style ids began in August 1991 and ended in March 2007; new-style ones are all 2007 or later.
    century = 1900 if match.re is _OLD_STYLE_ID and two_digits >= 91 else 2000
    return str(century + two_digits)


def split_name(name: str) -> tuple[str, str, str]:
    """ "First Middle Last Jr." as (first names, last name, suffix); one word is a last name alone."""
    words = name.split()
    suffix = ""
    if len(words) > 2 and words[-1].lower().rstrip(",") in _NAME_SUFFIXES:
        suffix = words.pop()
    if not words:
        return "", "", suffix
    return " ".join(words[:-1]).rstrip(","), words[-1], suffix


def _alphanumeric(text: str) -> str:
    """Only the letters and digits of the text (as arXiv's keys keep them, accented letters too)."""
    return "".join(char for char in text if char.isalnum())


def arxiv_key(paper: Paper) -> str:
    """The key arXiv gives the paper's BibTeX entry: last name + year + up to 4 non-stop title words."""
    last = split_name(paper.authors[0])[1] if paper.authors else "unknown"
    words = [word for word in _one_line(paper.title).split(" ") if word.lower() not in ARXIV_KEY_STOPWORDS]
    key = _alphanumeric(f"{last}{paper_year(paper)}{''.join(words[:KEY_TITLE_WORDS])}").lower()
    return key or "arxiv"


def unique_keys(keys: Iterable[str]) -> list[str]:
    """The keys made unique in order: a repeated key gets a, b, …, z, aa, ab, … (the first stays as is)."""
    used: set[str] = set()
    result: list[str] = []
    for key in keys:
        candidate, index = key, 0
        while candidate in used:
            candidate = key + _letters(index)
            index += 1
        used.add(candidate)
        result.append(candidate)
    return result


def _letters(index: int) -> str:
    """0 → a, 25 → z, 26 → aa: the suffixes of repeated keys."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return letters


def balanced_braces(text: str) -> str:
    """The text without the braces that have no partner (BibTeX reads a field up to its matching brace)."""
    unmatched: set[int] = set()
    opened: list[int] = []
    for position, char in enumerate(text):
        if char == "{":
            opened.append(position)
        elif char == "}":
            if opened:
                opened.pop()
            else:
                unmatched.add(position)
    unmatched.update(opened)
    return "".join(char for position, char in enumerate(text) if position not in unmatched)


def bibtex_value(text: str) -> str:
    """A field's text, safe between braces: one line, braces balanced, bare `&`, `%` and `#` escaped."""
    return _UNESCAPED_SPECIAL.sub(r"\\\1", balanced_braces(_one_line(text)))


def _bibtex_author(name: str) -> str:
    """One author as "First Last"; a name BibTeX would split wrongly (a comma, an " and ") is braced."""
    value = bibtex_value(name)
    if "," in value or " and " in f" {value.lower()} ":
        return "{" + value + "}"
    return value


def bibtex_entry(paper: Paper, key: str) -> str:
    """One paper as arXiv's @misc entry (a `doi` line when the paper has one, as arXiv adds it)."""
    fields = [
        ("title", bibtex_value(paper.title)),
        ("author", " and ".join(_bibtex_author(name) for name in paper.authors)),
        ("year", paper_year(paper)),
        ("eprint", paper.arxiv_id),
        ("archivePrefix", "arXiv"),
        ("primaryClass", paper.primary_category or "unknown"),
    ]
    if paper.doi:
        fields.append(("doi", bibtex_value(paper.doi)))
    fields.append(("url", paper.abs_url))
    body = ",\n".join(f"      {name}={{{value}}}" for name, value in fields)
    return f"@misc{{{key},\n{body}\n}}\n"


def render_bibtex(papers: Sequence[Paper]) -> str:
    """The papers as a .bib file, one entry each in the given order, keys unique within the file."""
    keys = unique_keys(arxiv_key(paper) for paper in papers)
    return "\n".join(bibtex_entry(paper, key) for paper, key in zip(papers, keys, strict=True))


def _ris_line(tag: str, value: str) -> str:
    """`TAG  - value`, the value on one line."""
    return f"{tag}  - {_one_line(value)}".rstrip() + "\r\n"


def ris_author(name: str) -> str:
    """ "Last, First" (", Suffix" after), as RIS and Zotero's import read an author."""
    first, last, suffix = split_name(name)
    parts = [last, first] if first else [last]
    if suffix:
        parts.append(suffix)
    return ", ".join(parts)


def ris_entry(paper: Paper) -> str:
    """One paper as a RIS record."""
    lines = [_ris_line("TY", "UNPB"), _ris_line("ID", paper.arxiv_id), _ris_line("TI", paper.title)]
    lines.extend(_ris_line("AU", ris_author(name)) for name in paper.authors)
    lines.append(_ris_line("PY", paper_year(paper)))
    lines.append(_ris_line("T2", "arXiv"))
    if paper.abstract.strip():
        lines.append(_ris_line("AB", paper.abstract))
    lines.append(_ris_line("UR", paper.abs_url))
    if paper.doi:
        lines.append(_ris_line("DO", paper.doi))
    lines.extend(_ris_line("KW", category) for category in paper.categories)
    primary = f" [{paper.primary_category}]" if paper.primary_category else ""
    lines.append(_ris_line("N1", f"arXiv:{paper.arxiv_id}{primary}"))
    lines.append("ER  - \r\n")
    return "".join(lines)


def render_ris(papers: Sequence[Paper]) -> str:
    """The papers as a .ris file, one record each in the given order."""
    return "\r\n".join(ris_entry(paper) for paper in papers)
