"""Helpers shared by the benchmarks: the machine, the real day of papers, realistic topics, tables.

Importing this module puts the project root on `sys.path`, so the benchmarks (run as
`python benchmarks/X.py` from the project root) can use the fake servers in `tests/fakes/`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import os
import platform
import random
import re
import sqlite3
import statistics
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.feeds import parse_feed  # noqa: E402
from bot.matching import Matcher  # noqa: E402
from bot.models import Announcement, AnnounceType, Paper, Style, Topic  # noqa: E402
from bot.query import parse_keyword  # noqa: E402

ALL_ARCHIVES = ROOT.parent / "shared" / "data" / "arxiv-rss" / "all-archives-2024-11-28.xml"
ANCHOR_CONFIG = ROOT / "tests" / "fixtures" / "anchor" / "config-mllm.yml"
# The anchor's categories (awesome-daily-AI-arxiv's config): what a topic without its own watches.
ANCHOR_CATEGORIES = ("cs.AI", "cs.CL", "cs.CV", "cs.LG", "cs.MA", "cs.RO")

# -- the machine -----------------------------------------------------------------------------------


# The fan-outs' --style: one style for every chat, or the three in turn.
STYLES: dict[str, tuple[Style, ...]] = {
    "compact": (Style.COMPACT,),
    "full": (Style.FULL,),
    "titles": (Style.TITLES,),
    "mixed": (Style.COMPACT, Style.FULL, Style.TITLES),
}


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine() -> str:
    """CPU model, cores, Python and OS, in one line."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def print_table(title: str, rows: Sequence[tuple[str, str, str]]) -> None:
    """A Markdown table of (what, figure, note) rows, with the machine and the load above it."""
    print(f"{title} — {machine()}; load {load()}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print()
    print("| what | figure | note |")
    print("|---|---|---|")
    for what, figure, note in rows:
        print(f"| {what} | {figure} | {note} |")
    print()


def median(values: Iterable[float]) -> float:
    """The median."""
    return statistics.median(list(values))


# -- the real day, doubled -------------------------------------------------------------------------


def real_day(path: Path = ALL_ARCHIVES) -> Announcement:
    """The 1,504-paper all-archives announcement of 2024-11-28 from the shared data set."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SystemExit(
            f"cannot read the feed {path} ({error.strerror}): it comes from the shared data set beside the"
            " project (../shared/data/); pass --feed PATH to use another rss.arxiv.org file"
        ) from None
    parsed = parse_feed(data, ())
    if not isinstance(parsed, Announcement):
        raise SystemExit(f"{path} holds no announcement: {parsed.reason}")
    return parsed


def doubled(papers: Sequence[Paper], seed: int = 7) -> list[Paper]:
    """The papers, then a copy of each with a distinct id and another paper's abstract (about 3,000)."""
    rng = random.Random(seed)
    copies = [
        dataclasses.replace(
            paper,
            arxiv_id=f"2499.{number:05d}",
            abstract=papers[rng.randrange(len(papers))].abstract,
        )
        for number, paper in enumerate(papers)
    ]
    return [*papers, *copies]


def feed_xml(date: dt.date, papers: Iterable[Paper]) -> bytes:
    """An rss.arxiv.org feed dated `date` carrying these papers (the shape `bot.feeds` reads)."""
    stamp = f"{date:%a, %d %b %Y} 00:00:00 -0500"
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'version="2.0"><channel>',
        "<title>all archives updates on arXiv.org</title>",
        "<link>http://rss.arxiv.org/rss/cs+math+physics</link>",
        f"<pubDate>{stamp}</pubDate>",
    ]
    for paper in papers:
        kind = str(paper.announce_type)
        categories = "".join(f"<category>{escape(c)}</category>" for c in paper.categories)
        parts.append(
            "<item>"
            f"<title>{escape(paper.title)}</title>"
            f"<link>https://arxiv.org/abs/{paper.arxiv_id}</link>"
            f"<description>arXiv:{paper.arxiv_id}v{paper.version} Announce Type: {kind} \n"
            f"Abstract: {escape(paper.abstract)}</description>"
            f'<guid isPermaLink="false">oai:arXiv.org:{paper.arxiv_id}v{paper.version}</guid>'
            f"{categories}<pubDate>{stamp}</pubDate>"
            f"<arxiv:announce_type>{kind}</arxiv:announce_type>"
            f"<dc:creator>{escape(', '.join(paper.authors))}</dc:creator>"
            "</item>"
        )
    parts.append("</channel></rss>")
    return "\n".join(parts).encode("utf-8")


# -- realistic topics --------------------------------------------------------------------------------

# Acronyms that read well as substrings (the anchor's rule: `VLM` also finds `LVLMs`) …
ACRONYMS = [
    "LLM", "VLM", "MLLM", "RAG", "GAN", "ViT", "CNN", "GNN", "NeRF", "SLAM", "MoE", "LoRA", "DPO",
    "RLHF", "CLIP", "BERT", "GPT", "VAE", "MCMC", "QCD", "CMB", "AGN", "LHC", "QFT", "DMRG", "VQE",
    "QAOA", "MIMO", "OFDM", "UAV", "LiDAR", "EEG", "fMRI", "JWST", "LIGO", "SYK", "BEC", "NISQ",
]  # fmt: skip
# … and short ones that only make sense as whole words (`=RL`; as a substring `rl` is in "world").
SHORT_ACRONYMS = ["RL", "ODE", "PDE", "CT", "GP", "NLP", "ASR", "TTS", "DFT", "SNR", "ML", "AI", "3D", "LM"]
PHRASES = [
    "vision language model", "diffusion model", "graph neural network", "reinforcement learning",
    "large language model", "world model", "chain of thought", "in-context learning",
    "federated learning", "knowledge distillation", "contrastive learning", "point cloud",
    "object detection", "semantic segmentation", "speech recognition", "machine translation",
    "dark matter", "gravitational wave", "black hole", "neutron star", "quantum error correction",
    "topological insulator", "phase transition", "random matrix", "optimal transport",
    "stochastic differential equation", "Bayesian inference", "causal inference", "time series",
    "anomaly detection", "autonomous driving", "motion planning", "protein structure", "single-cell",
    "large deviation", "spin glass", "lattice QCD", "exoplanet", "galaxy cluster", "superconduct",
    "mixture of experts", "retrieval-augmented generation", "text-to-image", "humanoid robot",
    "neural operator", "Navier-Stokes", "Hamiltonian", "entanglement", "many-body", "sparse attention",
]  # fmt: skip
EXCLUSIONS = ["survey", "review", "tutorial", "position paper", "ti:survey", "=RL", "benchmark", "dataset"]


def anchor_keywords(path: Path = ANCHOR_CONFIG) -> list[str]:
    """The keywords of the anchor's topics (tests/fixtures/anchor/config-mllm.yml)."""
    keywords: list[str] = []
    in_keywords = False
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("keywords:"):
            in_keywords = True
        elif in_keywords and stripped.startswith("- "):
            keywords.append(stripped[2:].strip())
        elif stripped.endswith(":"):
            in_keywords = False
    return keywords


@dataclasses.dataclass
class Vocabulary:
    """Terms users write, drawn from a real day: rare title words and bigrams, surnames, categories."""

    words: list[str]
    bigrams: list[str]
    surnames: list[str]
    categories: list[str]
    category_weights: list[int]
    anchor: list[str]

    @classmethod
    def of(cls, papers: Sequence[Paper], seed: int = 11) -> Vocabulary:
        """Words and two-word phrases from titles that occur in at most 2 % of the papers, and so on."""
        rng = random.Random(seed)
        sample = rng.sample(list(papers), min(600, len(papers)))
        texts = [f"{p.title} {p.abstract}".lower() for p in sample]

        def share(term: str) -> float:
            """The share of the sample's papers whose text contains the term."""
            needle = term.lower()
            return sum(needle in text for text in texts) / len(texts)

        tokens = [re.findall(r"[A-Za-z][A-Za-z-]{3,}", p.title) for p in papers]
        words = sorted({w for ws in tokens for w in ws if len(w) >= 5})
        bigrams = sorted({f"{a} {b}" for ws in tokens for a, b in itertools.pairwise(ws)})
        words = [w for w in rng.sample(words, min(2500, len(words))) if 0 < share(w) <= 0.02]
        bigrams = [b for b in rng.sample(bigrams, min(1500, len(bigrams))) if 0 < share(b) <= 0.02]
        surnames = sorted(
            {
                name.split()[-1]
                for p in papers
                for name in p.authors
                if len(name.split()[-1]) >= 4 and name.split()[-1].isalpha()
            }
        )
        counted = Counter(c for p in papers for c in p.categories)
        categories = [c for c, _ in counted.most_common()]
        return cls(
            words=words,
            bigrams=bigrams,
            surnames=surnames,
            categories=categories,
            category_weights=[counted[c] for c in categories],
            anchor=anchor_keywords(),
        )


def _quoted(text: str) -> str:
    """A quoted phrase of the keyword syntax."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _keyword(rng: random.Random, vocab: Vocabulary) -> str:
    """One keyword as users write them: plain terms, phrases, conjunctions and the precise syntax."""
    roll = rng.random()
    if roll < 0.22:
        return rng.choice(vocab.words)
    if roll < 0.35:
        return rng.choice(vocab.bigrams)
    if roll < 0.42:
        return rng.choice(vocab.anchor)
    if roll < 0.50:
        return rng.choice(ACRONYMS)
    if roll < 0.60:
        return rng.choice(PHRASES)
    if roll < 0.70:  # a conjunction
        first = rng.choice(ACRONYMS + PHRASES + vocab.anchor)
        return f"{first} AND {rng.choice(vocab.words + PHRASES)}"
    return _precise_keyword(rng, vocab)


def _precise_keyword(rng: random.Random, vocab: Vocabulary) -> str:
    """One keyword in the precise syntax: whole words, fields, phrases, NOT, groups."""
    form = rng.randrange(10)
    if form == 0:
        return "=" + rng.choice(SHORT_ACRONYMS + ACRONYMS)
    if form == 1:
        return "ti:" + rng.choice(vocab.words)
    if form == 2:
        return "ti:" + _quoted(rng.choice(PHRASES + vocab.bigrams))
    if form == 3:
        return "abs:=" + rng.choice(SHORT_ACRONYMS + ACRONYMS)
    if form == 4:
        return "au:" + rng.choice(vocab.surnames)
    if form == 5:
        return _quoted(rng.choice(PHRASES + vocab.bigrams))
    if form == 6:
        return f"{rng.choice(PHRASES + ACRONYMS)} NOT {rng.choice(['survey', 'review', *vocab.words])}"
    if form == 7:
        first, second = rng.sample(ACRONYMS + SHORT_ACRONYMS, 2)
        return f"(={first} OR ={second}) AND {rng.choice(vocab.words + PHRASES)}"
    if form == 8:
        return f"ti:({rng.choice(vocab.words)} OR {rng.choice(vocab.words)})"
    return f'ti:="{rng.choice(vocab.words)}" OR abs:{_quoted(rng.choice(PHRASES))}'


def _valid(keyword: str) -> bool:
    """Whether the keyword parses (a title word may be an operator in disguise)."""
    try:
        parse_keyword(keyword)
    except ValueError:
        return False
    return True


def realistic_topics(vocab: Vocabulary, count: int, seed: int = 11) -> list[Topic]:
    """`count` topics of 3–8 keywords and 0–2 exclusions; about a third watch the anchor's categories
    (the default), the rest 1–4 categories of the day, weighted by how many papers each has."""
    rng = random.Random(seed)
    topics = []
    for number in range(count):
        keywords: list[str] = []
        wanted = rng.randint(3, 8)
        while len(keywords) < wanted:
            keyword = _keyword(rng, vocab)
            if keyword not in keywords and _valid(keyword):
                keywords.append(keyword)
        excludes = tuple(
            dict.fromkeys(
                rng.choice([*EXCLUSIONS, rng.choice(vocab.words)]) for _ in range(rng.choice((0, 0, 1, 1, 2)))
            )
        )
        categories: tuple[str, ...] = ()
        if rng.random() >= 0.35:
            categories = tuple(
                dict.fromkeys(
                    rng.choices(vocab.categories, weights=vocab.category_weights, k=rng.randint(1, 4))
                )
            )
        kinds = frozenset(AnnounceType) if rng.random() < 0.8 else frozenset({AnnounceType.NEW})
        topics.append(Topic(f"topic {number}", tuple(keywords), excludes, categories, kinds))
    return topics


# -- fan-outs ----------------------------------------------------------------------------------------------


def title_keyword(paper: Paper) -> str:
    """A keyword that finds this paper by its whole title (`ti:="…"`)."""
    return "ti:=" + _quoted(" ".join(paper.title.split()))


def uniquely_titled(papers: Sequence[Paper]) -> list[Paper]:
    """The papers that their `title_keyword` finds alone (titles under 250 characters)."""
    candidates = [p for p in papers if len(p.title) < 250]
    topics = [Topic(p.arxiv_id, (title_keyword(p),)) for p in candidates]
    everywhere = sorted({c for p in papers for c in p.categories})
    found = Matcher.compile(topics, everywhere, strict=True).match(papers)
    return [p for p, hits in zip(candidates, found, strict=True) if [papers[i] for i in hits] == [p]]


def paper_run(papers: Sequence[Paper], start: int, count: int) -> list[Paper]:
    """`count` papers from `start` on, wrapping around (pass `uniquely_titled` papers, so title
    keywords find just these)."""
    usable = [*papers[start:], *papers[:start]]
    if count > len(usable):
        raise SystemExit(f"only {len(usable)} uniquely titled papers, {count} asked for")
    return usable[:count]


def ledger(path: Path) -> tuple[set[tuple[str, str]], int]:
    """(chat id, paper id) pairs a database's delivery ledger has as sent, and how many rows are pending."""
    with sqlite3.connect(path) as db:
        sent = {
            (str(chat), str(paper))
            for chat, paper in db.execute(
                "SELECT c.chat_id, d.arxiv_id FROM deliveries AS d JOIN channels AS c ON c.id = d.channel_id"
                " WHERE d.status = 'sent'"
            )
        }
        (pending,) = db.execute("SELECT count(*) FROM deliveries WHERE status = 'pending'").fetchone()
    return sent, int(pending)
