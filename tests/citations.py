"""Citation files read back with real parsers (bibtexparser 2, rispy), for the export tests."""

from __future__ import annotations

from typing import Any

import rispy
from bibtexparser.entrypoint import parse_string


def parsed_bibtex(text: str) -> list[dict[str, str]]:
    """The entries of a .bib text as bibtexparser 2 reads them (key under "ID"), failing on any error."""
    library = parse_string(text)
    assert not library.failed_blocks, [block.error for block in library.failed_blocks]
    return [
        {"ID": entry.key, "ENTRYTYPE": entry.entry_type} | {field.key: field.value for field in entry.fields}
        for entry in library.entries
    ]


def parsed_ris(text: str) -> list[dict[str, Any]]:
    """The records of a .ris text as rispy reads them."""
    return list(rispy.loads(text))


def undo_our_escapes(text: str) -> str:
    r"""What the exporter escapes, taken back (`\&` → `&`): a parsed title then equals the paper's."""
    for char in "&%#":
        text = text.replace("\\" + char, char)
    return text
