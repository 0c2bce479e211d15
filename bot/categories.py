"""arXiv's category taxonomy: checking, normalising and expanding category codes typed by users.

`expand_categories` is the one way every entry point reads categories (the command line's `-c`,
`DEFAULT_CATEGORIES`, the chat commands, the config importer): codes separated by commas or spaces,
any letter case, repeats dropped, and a whole archive (`cs` or `cs.*`) replaced by its categories,
because a paper is never filed under the bare archive code. Unknown codes are refused by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# arXiv's current category taxonomy (https://arxiv.org/category_taxonomy).
_TAXONOMY = """
astro-ph astro-ph.CO astro-ph.EP astro-ph.GA astro-ph.HE astro-ph.IM astro-ph.SR
cond-mat cond-mat.dis-nn cond-mat.mes-hall cond-mat.mtrl-sci cond-mat.other cond-mat.quant-gas
cond-mat.soft cond-mat.stat-mech cond-mat.str-el cond-mat.supr-con
cs cs.AI cs.AR cs.CC cs.CE cs.CG cs.CL cs.CR cs.CV cs.CY cs.DB cs.DC cs.DL cs.DM cs.DS cs.ET cs.FL
cs.GL cs.GR cs.GT cs.HC cs.IR cs.IT cs.LG cs.LO cs.MA cs.MM cs.MS cs.NA cs.NE cs.NI cs.OH cs.OS cs.PF
cs.PL cs.RO cs.SC cs.SD cs.SE cs.SI cs.SY
econ econ.EM econ.GN econ.TH
eess eess.AS eess.IV eess.SP eess.SY
gr-qc hep-ex hep-lat hep-ph hep-th math-ph nucl-ex nucl-th quant-ph
math math.AC math.AG math.AP math.AT math.CA math.CO math.CT math.CV math.DG math.DS math.FA math.GM
math.GN math.GR math.GT math.HO math.IT math.KT math.LO math.MG math.MP math.NA math.NT math.OA math.OC
math.PR math.QA math.RA math.RT math.SG math.SP math.ST
nlin nlin.AO nlin.CD nlin.CG nlin.PS nlin.SI
physics physics.acc-ph physics.ao-ph physics.app-ph physics.atm-clus physics.atom-ph physics.bio-ph
physics.chem-ph physics.class-ph physics.comp-ph physics.data-an physics.ed-ph physics.flu-dyn
physics.gen-ph physics.geo-ph physics.hist-ph physics.ins-det physics.med-ph physics.optics
physics.plasm-ph physics.pop-ph physics.soc-ph physics.space-ph
q-bio q-bio.BM q-bio.CB q-bio.GN q-bio.MN q-bio.NC q-bio.OT q-bio.PE q-bio.QM q-bio.SC q-bio.TO
q-fin q-fin.CP q-fin.EC q-fin.GN q-fin.MF q-fin.PM q-fin.PR q-fin.RM q-fin.ST q-fin.TR
stat stat.AP stat.CO stat.ME stat.ML stat.OT stat.TH
"""

KNOWN_CATEGORIES: frozenset[str] = frozenset(_TAXONOMY.split())
_BY_LOWER = {code.lower(): code for code in KNOWN_CATEGORIES}

# Whole archives that have categories of their own (`cs` → `cs.AI` … `cs.SY`). Archives without
# (`hep-th`, `quant-ph`) are categories themselves and stay as they are.
ARCHIVE_CATEGORIES: dict[str, tuple[str, ...]] = {
    archive: tuple(sorted(code for code in KNOWN_CATEGORIES if code.startswith(archive + ".")))
    for archive in sorted(KNOWN_CATEGORIES)
    if "." not in archive and any(code.startswith(archive + ".") for code in KNOWN_CATEGORIES)
}
_SEPARATORS = re.compile(r"[\s,]+")


class UnknownCategoryError(ValueError):
    """One or more category codes are not in arXiv's taxonomy."""

    def __init__(self, unknown: list[str]) -> None:
        self.unknown = unknown
        names = ", ".join(unknown)
        super().__init__(f"unknown arXiv categor{'y' if len(unknown) == 1 else 'ies'}: {names}")


def normalise_category(code: str) -> str | None:
    """The canonical spelling of a category code (`cs.cv` → `cs.CV`), or None if unknown."""
    return _BY_LOWER.get(code.strip().lower())


def normalise_categories(codes: Iterable[str]) -> tuple[str, ...]:
    """Canonical, de-duplicated codes in the given order; raises UnknownCategoryError naming the bad ones."""
    result: list[str] = []
    unknown: list[str] = []
    for raw in codes:
        if not raw.strip():
            continue
        code = normalise_category(raw)
        if code is None:
            unknown.append(raw.strip()[:40])
        elif code not in result:
            result.append(code)
    if unknown:
        raise UnknownCategoryError(unknown)
    return tuple(result)


def expand_categories(codes: str | Iterable[str]) -> tuple[str, ...]:
    """Categories as typed anywhere, canonical and each once, in the order given, archives expanded.

    `codes` is one string or several, each holding codes separated by commas and/or spaces
    (`"cs.CV, cs.CL"`, `"cs.CV cs.CL"`); `cs` and `cs.*` both stand for every `cs.` category.
    Raises UnknownCategoryError naming every code arXiv does not know; nothing given gives `()`.
    """
    texts = [codes] if isinstance(codes, str) else list(codes)
    expanded: dict[str, None] = {}
    unknown: list[str] = []
    for text in texts:
        for raw in _SEPARATORS.split(str(text)):
            if not raw:
                continue
            wildcard = raw.endswith(".*")  # `cs.*`: only an archive takes it
            code = normalise_category(raw[:-2] if wildcard else raw)
            if code is None or (wildcard and code not in ARCHIVE_CATEGORIES):
                if raw[:40] not in unknown:
                    unknown.append(raw[:40])
                continue
            for category in ARCHIVE_CATEGORIES.get(code, (code,)):
                expanded.setdefault(category)
    if unknown:
        raise UnknownCategoryError(unknown)
    return tuple(expanded)


def feed_path(categories: Iterable[str]) -> str:
    """The rss.arxiv.org path segment for several categories at once: `cs.CL+cs.CV`.

    Topics keep an archive expanded (`cs` is stored as its 40 categories, so that matching a paper's
    categories stays a plain set test), but asking for 40 codes would make a long URL for the same
    papers: rss.arxiv.org serves a whole archive under its own name (`/rss/cs` is every cs.*
    paper, cross-lists included). So an archive whose every category is asked for is requested by
    its name (`cs+math.PR`); what the announcement records as fetched stays the expanded codes.
    """
    wanted = set(categories)
    for archive, members in ARCHIVE_CATEGORIES.items():
        if wanted.issuperset(members):
            wanted.difference_update(members)
            wanted.add(archive)
    return "+".join(sorted(wanted))
