"""arXiv's category taxonomy: checking and normalising category codes typed by users."""

from __future__ import annotations

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


def feed_path(categories: Iterable[str]) -> str:
    """The rss.arxiv.org path segment for several categories at once: `cs.CL+cs.CV`."""
    return "+".join(sorted(set(categories)))
