"""Retrieve: hybrid search over one user's memories and skills.

For each list, candidates come from two searches — exact vector similarity and BM25 over the
jieba-segmented full-text index — and are fused into one score, `relativity` in [0, 1]:

`query_coverage` is the share of the query's content words found in the candidate, English words
compared by a light stem (painted, paints → paint). How the cosine and the coverage become one score
differs by list:

- **Memories** (facts, preferences, tool lessons): a logistic model,

      relativity = sigmoid(a * cosine + b * coverage + c * cosine * coverage + d)

  where coverage weighs each query word by its inverse document frequency among the candidates found
  by meaning (a name said in every message counts less than the one word that pins the event down).
  The score is calibrated: its weights were fitted (`memskill bench calibrate`, numpy's logistic
  regression) on the tuning parts of LoCoMo, MADial-Bench and the paraphrase set that ships in
  `memskill/bench/paraphrases.json`, and `d` was then set so that the default floor 0.45 keeps out the
  memories found for 90% of the set's unrelated questions, searched among 10,000 memories. A
  question that asks for a stored memory in other words then clears the floor more often than with
  word overlap alone; the held-out numbers are in `docs/benchmarks.md`.
- **Skills** are generalised text that a new request resembles in meaning rather than in wording:
  `clip(0.75 * calibrated_cosine + 0.35 * coverage, 0, 1)` with plain coverage, where
  `calibrated_cosine` maps the embedder's cosine from [0.15, 0.75] onto [0, 1].

Both scores depend only on the query, the item and (for memories) the items near the query, never on
how the searches ranked them. Candidates below the floor are dropped; the rest are ordered by
relativity, with reciprocal-rank fusion of the two searches breaking ties. The weights are fitted for
the offline embedder; another embedder's cosines sit elsewhere, so its floor means less.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache, partial

import numpy as np

from memskill.models import MemoryItem, Message, Scope, Skill
from memskill.naming import kind_of_name, recognise
from memskill.stores.base import ScoredId, Store
from memskill.text import content_filter, match_query, tokens

COSINE_ZERO = 0.15
"""Cosine at which calibrated similarity is 0 (unrelated pairs of the offline embedder sit around here)."""
COSINE_ONE = 0.75
"""Cosine at which calibrated similarity reaches 1 (close paraphrases)."""
RRF_K = 60
MATCH_TERMS = 6
"""A keyword query ORs at most this many of the request's terms, the rarest ones (coverage still counts
every word). Chosen for speed on long requests; retrieval and paraphrase numbers are unchanged by it
(docs/benchmarks.md)."""


@dataclass(frozen=True)
class Logistic:
    """A calibrated relevance: the probability-like score of a fitted logistic model."""

    cosine: float
    coverage: float
    both: float
    """Weight of cosine × coverage: shared words count more when the meaning is close too."""
    bias: float

    def __call__(self, cosine: float, coverage: float) -> float:
        z = self.cosine * cosine + self.coverage * coverage + self.both * cosine * coverage + self.bias
        return 1.0 / (1.0 + math.exp(-z))


MEMORY_MODEL = Logistic(cosine=7.248, coverage=3.818, both=3.248, bias=-3.397)
"""Fitted by `memskill bench calibrate` (tuning parts only; see the module's docstring)."""


@dataclass(frozen=True)
class Blend:
    """How one list turns the cosine and the query coverage into relativity."""

    weighted_words: bool
    """Whether coverage weighs query words by their rarity among the candidates (else all count 1)."""
    model: Logistic | None = None
    """A calibrated model of the raw cosine and the coverage; without one, the linear blend below."""
    vector: float = 0.0
    """Weight of the calibrated cosine in the linear blend."""
    lexical: float = 0.0
    """Weight of the query coverage in the linear blend."""


MEMORY_BLEND = Blend(weighted_words=True, model=MEMORY_MODEL)
"""Memories (facts, preferences, tool lessons): the calibrated model over rarity-weighted coverage."""
SKILL_BLEND = Blend(weighted_words=False, vector=0.75, lexical=0.35)
"""Skills: generalised procedures, matched by meaning first."""
KEYWORD_BLEND = Blend(weighted_words=False, vector=0.3, lexical=0.7)
"""Texts found by keyword alone (messages whose extraction is still running): coverage leads."""
TOOL_BLEND = Blend(weighted_words=False, model=MEMORY_MODEL)
"""Tool lessons: the memory model over plain coverage. A user has one lesson per tool, so rarity among
them says nothing, and the place a request names ("查一下昆明的天气") must not outweigh what it asks for."""


def blend_for(table: str, kind: str) -> Blend:
    """The blend of one list: skills, tool lessons, or the other memories."""
    if table == "skills":
        return SKILL_BLEND
    return TOOL_BLEND if kind == "tool" else MEMORY_BLEND


@dataclass(frozen=True)
class Hit:
    """One retrieved id with its fused relevance."""

    id: str
    relativity: float
    cosine: float
    coverage: float


@dataclass(frozen=True)
class Query:
    """A query prepared once per search: its text, vector, FTS expression and content words."""

    text: str
    vector: np.ndarray
    match: str | None
    words: frozenset[str]
    embedder_id: str | None = None
    """The embedder that made `vector`; when set, only stored vectors it made are compared."""
    keyword: Mapping[tuple[str, str], Sequence[ScoredId]] | None = None
    """Keyword hits of the lists a search will read, fetched together (`with_keyword_hits`) so a store
    with round trips pays one; a list not in it, or wanting more than `keyword_limit`, is searched alone."""
    keyword_limit: int = 0

    def with_keyword_hits(
        self, store: Store, scope: Scope, lists: Sequence[tuple[str, str]], limit: int
    ) -> Query:
        """This query with the keyword hits of `lists` (each list's top `limit`) fetched in one call."""
        if not self.match:
            return self
        return replace(
            self, keyword=store.keyword_searches(scope, lists, self.match, limit), keyword_limit=limit
        )

    @classmethod
    def build(
        cls,
        text: str,
        embed: Callable[[Sequence[str]], np.ndarray],
        embedder_id: str | None = None,
        counts: Callable[[Sequence[str]], dict[str, int]] | None = None,
    ) -> Query:
        """`counts` (the store's `term_counts`) lets the keyword query keep the rarest `MATCH_TERMS`."""
        return cls(
            text=text,
            vector=embed([text])[0],
            match=match_query(text, MATCH_TERMS, counts) if counts else match_query(text),
            words=content_words(text),
            embedder_id=embedder_id,
        )


def _clip(value: float) -> float:
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else value


def calibrate_cosine(cosine: float) -> float:
    return _clip((float(cosine) - COSINE_ZERO) / (COSINE_ONE - COSINE_ZERO))


_SUFFIXES = ("ing", "ed", "es", "s")


@lru_cache(maxsize=65536)
def stem(token: str) -> str:
    """A light English stem, the same for a word's common forms; other scripts are left alone.

    painting, painted, paints, paint → paint; planning, plans → plan; baking, bakes, bake → bak;
    parties, party → parti. Not a linguistic stem: only the query and the items need to agree.
    """
    if not token.isascii() or not token.isalpha() or len(token) <= 3:
        return token
    for suffix in _SUFFIXES:
        if token.endswith(suffix) and len(token) - len(suffix) >= 3 and not token.endswith("ss"):
            token = token[: -len(suffix)]
            if suffix in ("ing", "ed") and token[-1] == token[-2] and token[-1] not in "lsz":
                token = token[:-1]  # planning → plan, but falling → fall
            break
    if len(token) > 3 and token.endswith("e"):
        token = token[:-1]
    elif len(token) > 3 and token.endswith("y"):
        token = token[:-1] + "i"
    return token


@lru_cache(maxsize=16384)
def content_words(text: str) -> frozenset[str]:
    """The stemmed content words of `text`."""
    return words_of_tokens(tokens(text))


def words_of_tokens(tokens: Sequence[str]) -> frozenset[str]:
    """`content_words` of a text from its tokens (`text.tokens`), e.g. those a keyword index holds.

    Cached by the tokens: a search reads the words of every candidate, and the same memories come back
    as candidates of many searches."""
    return _words_of(tuple(tokens))


@lru_cache(maxsize=65536)
def _words_of(tokens: tuple[str, ...]) -> frozenset[str]:
    return frozenset(stem(token) for token in content_filter(tokens))


def term_weights(query_words: frozenset[str], documents: Sequence[frozenset[str]]) -> dict[str, float]:
    """Inverse document frequency of each query word among `documents` (BM25's idf, never below 0)."""
    total = len(documents)
    out = {}
    for word in query_words:
        frequency = sum(1 for document in documents if word in document)
        out[word] = math.log(1.0 + (total - frequency + 0.5) / (frequency + 0.5))
    return out


def coverage(query_words: frozenset[str], text: str, weights: dict[str, float] | None = None) -> float:
    """Weighted share of the query's content words that occur in `text` (0 when the query has none).

    Without `weights` every word counts the same.
    """
    return word_coverage(query_words, content_words(text) if query_words else frozenset(), weights)


def word_coverage(
    query_words: frozenset[str], present: frozenset[str], weights: dict[str, float] | None = None
) -> float:
    """`coverage` with the candidate's content words already known."""
    if not query_words:
        return 0.0
    if weights is None:
        return len(query_words & present) / len(query_words)
    total = sum(weights.get(word, 0.0) for word in query_words)
    if total <= 0:
        return len(query_words & present) / len(query_words)
    return sum(weights.get(word, 0.0) for word in query_words & present) / total


def relativity(cosine: float, lexical: float, blend: Blend = MEMORY_BLEND) -> float:
    if blend.model is not None:
        return blend.model(float(cosine), float(lexical))
    return _clip(blend.vector * calibrate_cosine(cosine) + blend.lexical * float(lexical))


def hybrid_search(
    store: Store,
    scope: Scope,
    table: str,
    kind: str,
    query: Query,
    words: Callable[[Sequence[str]], dict[str, frozenset[str]]],
    limit: int,
    floor: float,
    pool: int = 50,
    blend: Blend | None = None,
) -> list[Hit]:
    """Top `limit` hits at or above `floor` for one list (`table` items of `kind`, or skills).

    `words` returns the content words (`content_words` of the searchable text) of candidate ids, used
    for the lexical coverage; `blend` defaults to the list's (`blend_for`).
    """
    if limit <= 0:
        return []
    scored = candidates(store, scope, table, kind, query, words, candidate_pool(limit, pool), blend)
    hits = [hit for hit in scored if hit.relativity >= floor]
    return hits[:limit]


def candidate_pool(limit: int, pool: int = 50) -> int:
    """How many candidates each of the two searches of `hybrid_search` brings for `limit` hits."""
    return max(pool, limit * 3)


def candidates(
    store: Store,
    scope: Scope,
    table: str,
    kind: str,
    query: Query,
    words: Callable[[Sequence[str]], dict[str, frozenset[str]]],
    size: int,
    blend: Blend | None = None,
) -> list[Hit]:
    """Every candidate of the two searches (`size` each), scored and ordered, with no floor; the
    cosine and coverage are kept on each hit (`memskill bench calibrate` fits the model from them)."""
    blend = blend or blend_for(table, kind)
    by_vector = store.vector_search(scope, table, kind, query.vector, size, query.embedder_id)
    fetched = query.keyword.get((table, kind)) if query.keyword is not None else None
    if fetched is not None and size <= query.keyword_limit:
        by_keyword = list(fetched[:size])
    else:
        by_keyword = store.keyword_search(scope, table, kind, query.match, size) if query.match else []
    rrf: dict[str, float] = {}
    for ranked in (by_vector, by_keyword):
        for rank, hit in enumerate(ranked):
            rrf[hit.id] = rrf.get(hit.id, 0.0) + 1.0 / (RRF_K + rank + 1)
    if not rrf:
        return []
    cosines = {hit.id: hit.score for hit in by_vector}
    missing = [i for i in rrf if i not in cosines]
    if missing:
        dim = int(query.vector.shape[0])
        for item_id, vector in store.vectors_of(table, missing, dim, query.embedder_id).items():
            cosines[item_id] = float(vector @ query.vector)
    candidate_words = words(list(rrf))
    nothing: frozenset[str] = frozenset()
    weights = None
    if blend.weighted_words:
        # Rarity among the items found by meaning alone: all of a small collection, the query's
        # neighbourhood in a large one (items found by keyword would make the query's words look common).
        found = [candidate_words.get(hit.id, nothing) for hit in by_vector]
        weights = term_weights(query.words, found)
    hits: list[Hit] = []
    for item_id in rrf:
        cosine = cosines.get(item_id, 0.0)
        lexical = word_coverage(query.words, candidate_words.get(item_id, nothing), weights)
        hits.append(Hit(item_id, relativity(cosine, lexical, blend), cosine, lexical))
    hits.sort(key=lambda hit: (-round(hit.relativity, 6), -rrf[hit.id]))
    return hits


# -- one search over a user's lists -----------------------------------------------------------------

KIND_MATCH_RELATIVITY = 0.6
"""A skill for the kind of task the query asks for (both recognised by `naming`) is at least this relevant:
"review my pull request" and a code-review skill learned from other reviews share few words."""
PREFERENCE_LINK_WEIGHT = 0.95
"""A preference learned in the same kind of task as a matched skill is about as relevant as the skill."""
DEFAULT_RELATIVITY = 0.45
"""The relevance floor of a search that names none; a skill below it does not count as matched."""
PENDING_BONUS = 0.3
"""Added to a message still being extracted, found by keyword alone: it is the user's own recent words."""


def hits_wanted(table: str, limit: int) -> int:
    """How many hits a search asks `hybrid_search` for to return `limit` of a list: three times as many
    memories (the filter and the preference links choose among them), at least 25 skills (the kind
    boost reorders them)."""
    return max(limit, 25) if table == "skills" else limit * 3


@dataclass(frozen=True)
class Wanted:
    """How many of each list a search returns (0: the list is not wanted)."""

    memories: int
    preferences: int
    tools: int
    skills: int


@dataclass(frozen=True)
class Found:
    """What one search found, each list best first with its relativity."""

    memories: list[tuple[MemoryItem, float]]
    pending: list[tuple[Message, str, float]]
    """Messages whose extraction has not finished, found by keyword: (message, conversation, score)."""
    preferences: list[tuple[MemoryItem, float]]
    tools: list[tuple[MemoryItem, float]]
    skills: list[tuple[Skill, float]]


def item_words(store: Store, ids: Sequence[str]) -> dict[str, frozenset[str]]:
    """The content words of each item's searchable text, as search compares them with a query."""
    return {item_id: words_of_tokens(found) for item_id, found in store.item_tokens(ids).items()}


def search(
    store: Store,
    scope: Scope,
    query: Query,
    wanted: Wanted,
    floor: float,
    accept: Callable[[MemoryItem], bool],
) -> Found:
    """One search of a user's facts, preferences, tool lessons and skills for `query`: each list at or
    above `floor` (`accept` filters the memories); a skill of the kind the query asks for is at least
    `KIND_MATCH_RELATIVITY`; a preference learned in a matched skill's tasks borrows its relevance."""
    lists = {("items", "fact"): wanted.memories, ("skills", ""): wanted.skills}
    if wanted.preferences:
        lists[("items", "preference")] = wanted.preferences
    if wanted.tools:
        lists[("items", "tool")] = wanted.tools
    # The keyword hits of every list this search reads, in one call (one round trip on PostgreSQL).
    pool = max(candidate_pool(hits_wanted(table, limit)) for (table, _), limit in lists.items())
    query = query.with_keyword_hits(store, scope, list(lists), pool)

    def items(kind: str, limit: int) -> list[tuple[MemoryItem, float]]:
        words = partial(item_words, store)
        hits = hybrid_search(store, scope, "items", kind, query, words, hits_wanted("items", limit), floor)
        found = {i.id: i for i in store.get_items([h.id for h in hits])}
        return [(found[h.id], h.relativity) for h in hits if h.id in found and accept(found[h.id])][:limit]

    memories = items("fact", wanted.memories)
    pending: list[tuple[Message, str, float]] = []
    if query.match and len(memories) < wanted.memories:
        for message, conversation, _ in store.pending_message_hits(scope, query.match, wanted.memories):
            score = min(
                relativity(0.0, coverage(query.words, message.content), KEYWORD_BLEND) + PENDING_BONUS, 1
            )
            if message.role in ("user", "assistant") and score >= floor:
                pending.append((message, conversation, score))
    skills = _skills(store, scope, query, max(wanted.skills, 3), floor)
    preferences = _preferences(store, scope, items, skills, wanted.preferences, accept, floor)
    tools = items("tool", wanted.tools) if wanted.tools else []
    return Found(memories, pending, preferences if wanted.preferences else [], tools, skills[: wanted.skills])


def _skills(store: Store, scope: Scope, query: Query, limit: int, floor: float) -> list[tuple[Skill, float]]:
    fetched: dict[str, Skill | None] = {}

    def words(ids: Sequence[str]) -> dict[str, frozenset[str]]:
        missing = [skill_id for skill_id in ids if skill_id not in fetched]
        found = store.get_skills(missing)
        fetched.update({skill_id: found.get(skill_id) for skill_id in missing})
        out = {}
        for skill_id in ids:
            skill = fetched.get(skill_id)
            if skill is not None:
                steps = [i.text for i in skill.current.items if i.section in ("procedure", "example")]
                text = " ".join([skill.current.name.replace("-", " "), skill.current.description, *steps])
                out[skill_id] = content_words(text)
        return out

    hits = hybrid_search(store, scope, "skills", "", query, words, hits_wanted("skills", limit), 0.0)
    asked = recognise([query.text])
    out = []
    for hit in hits:
        if hit.id not in fetched:
            fetched[hit.id] = store.get_skill(hit.id)
        skill = fetched[hit.id]
        if skill is None:
            continue
        score = hit.relativity
        if asked is not None and kind_of_name(skill.current.name) == asked:
            score = max(score, KIND_MATCH_RELATIVITY)
        if score >= floor:
            out.append((skill, score))
    out.sort(key=lambda pair: -pair[1])
    return out[:limit]


def _preferences(
    store: Store,
    scope: Scope,
    items: Callable[[str, int], list[tuple[MemoryItem, float]]],
    skills: list[tuple[Skill, float]],
    limit: int,
    accept: Callable[[MemoryItem], bool],
    floor: float,
) -> list[tuple[MemoryItem, float]]:
    if not limit:
        return []
    scored = {item.id: (item, rel) for item, rel in items("preference", limit)}
    # Only a skill that matches the request lends its relevance, even when the caller lowers the floor:
    # a weak skill hit says nothing about its preferences.
    cluster_relevance = {skill.cluster_id: rel for skill, rel in skills if rel >= DEFAULT_RELATIVITY}
    if cluster_relevance:
        for item in store.list_items(scope, ["preference"], cluster_ids=list(cluster_relevance)):
            linked = cluster_relevance.get(str(item.payload.get("cluster_id")))
            if linked is None or not accept(item):
                continue
            boosted = linked * PREFERENCE_LINK_WEIGHT
            if boosted >= floor and boosted > scored.get(item.id, (item, 0.0))[1]:
                scored[item.id] = (item, boosted)
    return sorted(scored.values(), key=lambda pair: -pair[1])[:limit]


def preference_note(preferences: Sequence[str], query: str) -> str:
    """Prompt-ready text that lists the preferences to respect, in the query's language."""
    if not preferences:
        return ""
    chinese = any("\u4e00" <= ch <= "\u9fff" for ch in query)
    head = (
        "回答时请遵循用户的以下偏好：" if chinese else "Follow these preferences of the user when answering:"
    )
    return "\n".join([head, *(f"{n}. {text}" for n, text in enumerate(preferences, start=1))])
