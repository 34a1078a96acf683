"""Hybrid retrieval: the pure scoring functions, and search through the real service.

The service tests check that the keyword index and the session context follow every change
of the ledger: adds, updates, deletes, merges and a restart on the same data directory.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mcp_memory.config import RankingSettings
from mcp_memory.factory import build_service
from mcp_memory.search import language, ranking
from mcp_memory.search.context import neighbours_in

NOW = datetime(2026, 1, 15, tzinfo=UTC)


def cand(
    mid: str, similarity: float, keyword: float = 0.0, content: str = "x", session: bool = True
) -> ranking.Candidate:
    return ranking.Candidate(mid, content, similarity, keyword, 0.5, NOW, in_session=session)


# -- pure functions -------------------------------------------------------------------------


def test_query_understanding_finds_names_times_and_dates() -> None:
    assert language.names_in("What did Caroline's sister research in Paris?") == {
        "caroline",
        "paris",
    }
    assert language.names_in("What did she research?") == frozenset()
    assert language.speaker_of("Nate: I love it") == "nate"
    assert language.speaker_of("The meeting is at 10: room 4") is None
    assert language.asks_when("When did Ana move to Lisbon?")
    assert language.asks_when("How long has he been vegan?")
    assert not language.asks_when("Where did Ana move?")
    assert language.mentions_time("I went there yesterday")
    assert language.mentions_time("We met in March 2021")
    assert not language.mentions_time("I like green tea")
    ((start, end),) = ranking.query_periods("What happened on 25 February, 2022?")
    assert (start.date().isoformat(), (end - start).days) == ("2022-02-25", 1)
    ((start, end),) = ranking.query_periods("What did she buy in June 2023?")
    assert (start.date().isoformat(), end.date().isoformat()) == ("2023-06-01", "2023-07-01")
    assert language.content_terms("What is the name of her dog?") == ["name", "dog"]


def test_periods_at_the_ends_of_the_calendar_are_left_out() -> None:
    """A query naming the last day or month of the calendar, or year 0, used to crash the
    search (OverflowError, ValueError); such a period is not looked for."""
    for query in ("What happened on 9999-12-31?", "in December 9999", "in May 0000"):
        assert ranking.query_periods(query) == [], query
    ((start, end),) = ranking.query_periods("What happened on 9999-12-30?")
    last = datetime(9999, 12, 31, 12, tzinfo=UTC)
    assert ranking.in_periods(last, [(start, end)], slack_days=7)  # end + 7 days is off the end
    assert not ranking.in_periods(start.replace(year=9998), [(start, end)], slack_days=7)
    ((start, end),) = ranking.query_periods("in November 9999")
    assert end == datetime(9999, 12, 1, tzinfo=UTC)
    memory = ranking.Candidate("m", "x", 0.5, 0.0, 0.5, last)
    query = "What happened on 9999-12-30 or 9999-12-31, and in December 9999?"
    assert [s.id for s in ranking.rank(query, [memory], {}, RankingSettings(), NOW)] == ["m"]


def test_context_lifts_the_reply_to_a_matching_question() -> None:
    weights = RankingSettings(context_semantic_weight=1.0, importance_weight=0, recency_weight=0)
    question = cand("q", 0.9)
    reply = cand("r", 0.3)
    chatter = cand("c", 0.5)
    neighbours = {"r": [(-1, "q")], "q": [(1, "r")]}
    without = [s.id for s in ranking.rank("x", [question, reply, chatter], {}, weights, NOW)]
    with_ctx = [
        s.id for s in ranking.rank("x", [question, reply, chatter], neighbours, weights, NOW)
    ]
    assert without.index("r") > without.index("c")
    assert with_ctx.index("r") < with_ctx.index("c")


def test_a_memory_without_session_takes_its_meaning_as_context() -> None:
    weights = RankingSettings(
        semantic_weight=1.0, keyword_weight=0.5, context_semantic_weight=0.5,
        context_keyword_weight=0.25, importance_weight=0, recency_weight=0,
    )  # fmt: skip
    lone = [cand("a", 0.8, 1.0, session=False), cand("b", 0.4, 2.0, session=False)]
    by_id = {s.id: s for s in ranking.rank("x", lone, {}, weights, NOW)}
    assert by_id["a"].relevance + by_id["a"].context == pytest.approx(1.0 + 0.25 + 0.75)
    assert by_id["b"].relevance + by_id["b"].context == pytest.approx(0.5 + 0.5 + 0.75 * 0.5)


def test_window_keyword_rewards_a_window_holding_several_query_words() -> None:
    weights = RankingSettings(
        semantic_weight=0, context_keyword_weight=1.0, context_keyword_window=1,
        importance_weight=0, recency_weight=0,
    )  # fmt: skip
    cands = [cand(i, 0.5, content="some words here") for i in ("a", "b", "c", "d")]
    neighbours = {"a": [(1, "b")], "b": [(-1, "a")], "c": [(1, "d")], "d": [(-1, "c")]}
    terms = ranking.Terms.from_counts({"red": {"a", "c"}, "kite": {"b"}}, {"red": 2, "kite": 1}, 10)
    ranked = [s.id for s in ranking.rank("red kite", cands, neighbours, weights, NOW, terms)]
    assert set(ranked[:2]) == {"a", "b"}


def test_name_time_and_date_boosts() -> None:
    weights = RankingSettings(
        speaker_boost=0.3, time_boost=0.2, date_boost=0.5, importance_weight=0, recency_weight=0
    )
    by_ana = ranking.Candidate(
        "a", "Ana: I moved last year", 0.5, 0, 0.5, datetime(2023, 5, 9, tzinfo=UTC)
    )
    by_bo = ranking.Candidate(
        "b", "Bo: I moved house", 0.5, 0, 0.5, datetime(2023, 1, 1, tzinfo=UTC)
    )
    scored = {
        s.id: s.boost
        for s in ranking.rank("When did Ana move on 8 May 2023?", [by_ana, by_bo], {}, weights, NOW)
    }
    assert scored["a"] == pytest.approx(0.3 + 0.2 + 0.5)
    assert scored["b"] == pytest.approx(0.0)


# -- through the service ----------------------------------------------------------------------

CHAT = [
    ("Nate", "That makes sense, practice matters. So what's your favourite game these days?"),
    ("Joanna", "Definitely Zephyrfall Chronicles, I have played it for two hundred hours."),
    ("Nate", "I baked a lemon tart for my neighbours this afternoon."),
    ("Joanna", "My cat knocked a plant off the shelf again, what a mess."),
]


def _chat(service, user="u1", session="s1", start=0):
    ids = []
    for i, (who, text) in enumerate(CHAT):
        added = service.add(
            f"{who}: {text}", user_id=user, session_id=session, memory_type="episodic",
            created_at=f"2026-01-15T10:00:{start + i:02d}+00:00",
        )  # fmt: skip
        ids.append(added.id)
    return ids


def _top(service, query, user="u1", limit=3):
    return [h.id for h in service.search(query, user_id=user, limit=limit).results]


def test_hybrid_search_finds_a_rare_word_and_reports_fused_score(service) -> None:
    target = service.add("The storage unit code is QX-7741, near gate B.", user_id="u1").id
    for text in [
        "I stored my bike in the garage",
        "Units of measure in recipes",
        "Gate opening hours",
    ]:
        service.add(text, user_id="u1")
    hits = service.search("what was the QX-7741 thing?", user_id="u1").results
    assert hits[0].id == target
    assert hits[0].score != hits[0].similarity
    assert 0 < hits[0].similarity < 1


DISTRACTORS = [
    "Nate: The football game on TV last night was tense.",
    "Joanna: Board game night at the library was fun.",
    "Nate: I like to play chess on weekends.",
    "Joanna: I prefer hiking over video games honestly.",
]


def test_context_finds_the_reply_to_the_question_asked(service, settings, embedder, clock) -> None:
    ids = _chat(service)
    for i, text in enumerate(DISTRACTORS):
        service.add(text, user_id="u1", session_id="s2", created_at=f"2026-01-15T11:00:{i:02d}Z")
    query = "What is her favourite game?"
    with_context = _top(service, query, limit=8)
    flat = RankingSettings(context_semantic_weight=0, context_keyword_weight=0)
    plain = build_service(
        settings.model_copy(update={"ranking": flat}), embedder=embedder, clock=clock
    )
    try:
        without = [h.id for h in plain.search(query, user_id="u1", limit=8).results]
    finally:
        plain.close()
    assert with_context.index(ids[1]) < without.index(ids[1])
    assert with_context.index(ids[1]) <= 1


def test_context_follows_adds_updates_and_deletes(service) -> None:
    first = service.add(
        "Joanna: Definitely Zephyrfall Chronicles, I have played it for two hundred hours.",
        user_id="u1", session_id="s1", created_at="2026-01-15T10:00:01+00:00",
    ).id  # fmt: skip
    service.add("Nate: Lovely weather for a walk today.", user_id="u1", session_id="s2")
    before = _rank_of(service, first, "What is Nate's favourite game?")
    question = service.add(
        "Nate: So what's your favourite game these days?",
        user_id="u1", session_id="s1", created_at="2026-01-15T10:00:00+00:00",
    ).id  # fmt: skip
    with_question = _score(service, first, "What is Nate's favourite game?")
    assert _rank_of(service, first, "What is Nate's favourite game?") <= before
    service.update(question, content="Nate: The bus was late again this morning.")
    assert _score(service, first, "What is Nate's favourite game?") < with_question
    service.update(question, content="Nate: So what's your favourite game these days?")
    assert _score(service, first, "What is Nate's favourite game?") == pytest.approx(with_question)
    service.delete(question)
    assert question not in _top(service, "favourite game", limit=10)
    assert _score(service, first, "What is Nate's favourite game?") < with_question


def _hits(service, query):
    return {h.id: h for h in service.search(query, user_id="u1", limit=20).results}


def _score(service, memory_id, query):
    return _hits(service, query)[memory_id].score


def _rank_of(service, memory_id, query):
    return list(_hits(service, query)).index(memory_id)


def test_delete_closes_the_gap_between_neighbours(service) -> None:
    ids = _chat(service)
    service.delete(ids[2])
    window = _around(service.ledger, [ids[1]], 1, _user_filter("u1"))
    assert sorted(window[ids[1]]) == [(-1, ids[0]), (1, ids[3])]


def test_keyword_index_follows_updates(service) -> None:
    mid = service.add("My locker combination is 3917 and the key is blue.", user_id="u1").id
    service.add("Lockers are cleaned on Fridays.", user_id="u1")
    service.update(mid, content="My padlock code is 5581 and the key is red.")
    terms = language.content_terms("5581")
    assert [i for i, _ in service.ledger.keyword_search(terms, _user_filter("u1"), 5)] == [mid]
    old = language.content_terms("3917")
    assert service.ledger.keyword_search(old, _user_filter("u1"), 5) == []
    assert _top(service, "what is the 5581 code for?", limit=1) == [mid]


def test_merge_keeps_one_memory_in_keyword_search_and_context(service) -> None:
    ids = _chat(service)
    dup = service.add(
        "Joanna: Definitely Zephyrfall Chronicles, I have played it for two hundred hours.",
        user_id="u1", session_id="s1", created_at="2026-01-15T10:00:09+00:00",
    )  # fmt: skip
    assert dup.duplicate_of == ids[1]
    twin = service.add(
        "Joanna: definitely zephyrfall chronicles, I have played it for two hundred hours or so",
        user_id="u1", session_id="s1", created_at="2026-01-15T10:00:09+00:00",
    ).id  # fmt: skip
    result = service.consolidate(user_id="u1")
    assert result.duplicates_merged == 1
    terms = language.content_terms("Zephyrfall")
    assert [i for i, _ in service.ledger.keyword_search(terms, _user_filter("u1"), 10)] == [ids[1]]
    window = _around(service.ledger, [ids[3]], 2, _user_filter("u1"))
    assert sorted(window[ids[3]]) == [(-2, ids[1]), (-1, ids[2])]
    assert twin not in _top(service, "Which game does she like best?", limit=10)
    assert ids[1] in _top(service, "Which game does she like best?", limit=2)


def test_keyword_index_and_context_survive_a_restart(settings, embedder, clock) -> None:
    first = build_service(settings, embedder=embedder, clock=clock)
    ids = _chat(first)
    query = "What is Nate's favourite game?"
    before = [(h.id, h.score) for h in first.search(query, user_id="u1", limit=4).results]
    first.close()
    second = build_service(settings, embedder=embedder, clock=clock)
    try:
        after = [(h.id, h.score) for h in second.search(query, user_id="u1", limit=4).results]
        assert [i for i, _ in after] == [i for i, _ in before]
        assert [s for _, s in after] == pytest.approx([s for _, s in before])
        assert ids[1] in [i for i, _ in after]
        terms = language.content_terms("Zephyrfall")
        assert [i for i, _ in second.ledger.keyword_search(terms, _user_filter("u1"), 5)] == [
            ids[1]
        ]
    finally:
        second.close()


def test_search_filters_apply_to_hybrid_results(service) -> None:
    _chat(service, user="u1")
    _chat(service, user="u2")
    other = {h.memory.user_id for h in service.search("favourite game", user_id="u2").results}
    assert other == {"u2"}
    hits = service.search("favourite game", user_id="u1", memory_type="semantic").results
    assert hits == []


def _user_filter(user):
    from mcp_memory.models import Scope
    from mcp_memory.store.records import MemoryFilter

    return MemoryFilter(scope=Scope(user_id=user), exclude_stages=("archived",))


def test_presence_bm25_weighs_terms_by_idf_and_texts_by_length() -> None:
    terms = ranking.Terms.from_counts(
        {"kayak": {"a", "b"}, "river": {"a", "c"}}, {"kayak": 2, "river": 40}, total=100
    )
    texts = {"a": "kayak on the river", "b": "kayak " * 12, "c": "river bank", "d": "tea"}
    scores = ranking.presence_bm25(texts, terms)
    assert scores["a"] > scores["b"] > scores["c"] > 0 and scores["d"] == 0
    same_length = ranking.presence_bm25({"a": "kayak river", "b": "kayak trip"}, terms)
    assert same_length["a"] == pytest.approx(sum(terms.idf.values()))
    assert same_length["b"] == pytest.approx(terms.idf["kayak"])


def _around(ledger, ids, window, flt):
    """Each id's neighbours within ``window`` places in its session, as search reads them."""
    return neighbours_in(ledger.sessions(ids, flt), ids, window)


def test_a_reply_brought_in_beside_its_question_takes_the_question_as_context(
    settings, embedder, clock
) -> None:
    """The reply shares no query word: it enters the candidates only as the neighbour of the
    question it answers (the pool is one memory wide), and still gets that question as its
    context instead of being judged on its own weak signals."""
    weights = RankingSettings(candidate_pool=1)
    narrow = settings.model_copy(update={"ranking": weights})
    service = build_service(narrow, embedder=embedder, clock=clock)
    try:
        _reply_and_question(service, weights)
    finally:
        service.close()


def _reply_and_question(service, weights) -> None:
    service.add("Nate: The bus was late again this morning.", user_id="u1")
    question = service.add(
        "Joanna: Congrats on hosting the cooking show! What's your favourite dish from it?",
        user_id="u1", session_id="s1", created_at="2026-01-15T10:00:00Z",
    ).id  # fmt: skip
    reply = service.add(
        "Nate: Coconut milk ice cream, smooth and creamy with a tropical twist.",
        user_id="u1", session_id="s1", created_at="2026-01-15T10:00:01Z",
    ).id  # fmt: skip
    query = "What is his favourite dish from the cooking show he hosted?"
    pool = service.gather(query, _user_filter("u1"), limit=1)
    assert pool.neighbours[reply] == [(-1, question)]
    ranked = ranking.rank(query, pool.candidates, pool.neighbours, weights, NOW, pool.terms)
    assert [s.id for s in ranked][:2] == [question, reply]
    scored = next(s for s in ranked if s.id == reply)
    alone = scored.relevance * (weights.context_semantic_weight + weights.context_keyword_weight)
    assert scored.context > alone


def test_words_most_memories_hold_are_left_out_but_the_rarest_always_stays():
    counts = {"user": 930, "salmon": 12, "grilled": 40}
    assert language.search_terms(["user", "salmon", "grilled"], counts, 1000, 0.5) == [
        "salmon",
        "grilled",
    ]
    assert language.search_terms(["user", "like"], {"user": 930, "like": 600}, 1000, 0.5) == [
        "like"
    ]
    assert language.search_terms([], {}, 1000, 0.5) == []


@pytest.mark.parametrize("both", [6, 3])
def test_a_wide_keyword_lookup_ranks_memories_holding_every_word_first(
    settings, embedder, clock, monkeypatch, both
) -> None:
    """Above ``keyword_all_terms_over`` postings, the memories holding every looked-up word
    are ranked first; those holding any word are ranked only when the first are too few to
    fill the pool, and then come after them."""
    weights = RankingSettings(candidate_pool=5, keyword_all_terms_over=20)
    service = build_service(
        settings.model_copy(update={"ranking": weights}), embedder=embedder, clock=clock
    )
    try:
        texts = [f"kayak {i}" for i in range(12)] + [f"harbour {i}" for i in range(12)]
        texts += [f"We rented a kayak at the harbour, trip {i} of the summer" for i in range(both)]
        ids = [r.id for r in service.add_many([{"content": t, "user_id": "u1"} for t in texts])]
        asked: list[str] = []
        real = service.ledger.keyword_search
        monkeypatch.setattr(
            service.ledger,
            "keyword_search",
            lambda t, f, n, every=False: asked.append((list(t), every)) or real(t, f, n, every),
        )
        seeds = service.searcher.keyword_seeds(["kayak", "harbour"], {"kayak": 18, "harbour": 18},
                                       _user_filter("u1"), 5)  # fmt: skip
        both_words = (["kayak", "harbour"], True)
        assert asked[0] == both_words
        assert set(seeds[: min(both, 5)]) <= set(ids[24:])
        if both >= 5:
            assert asked == [both_words] and len(seeds) == 5
        else:
            assert asked[1] == (["kayak", "harbour"], False) and len(seeds) == 5
        asked.clear()
        service.searcher.keyword_seeds(["kayak", "harbour"], {"kayak": 9, "harbour": 9},
                               _user_filter("u1"), 5)  # fmt: skip
        assert asked == [(["kayak", "harbour"], False)]  # few postings: the plain lookup
    finally:
        service.close()


def test_context_is_gathered_around_the_best_seeds_only(
    settings, embedder, clock, monkeypatch
) -> None:
    """Sessions are read for the best ``context_seeds`` of each list (or ``limit``, when
    more is asked for); the other seeds stay candidates, ranked on their own signals."""
    weights = RankingSettings(candidate_pool=12, context_seeds=2)
    service = build_service(
        settings.model_copy(update={"ranking": weights}), embedder=embedder, clock=clock
    )
    try:
        service.add_many(
            [
                {"content": f"Turn {t} of chat {c}: we talked about gardening and tomatoes",
                 "user_id": "u1", "session_id": f"chat-{c}"}
                for c in range(8) for t in range(4)
            ]
        )  # fmt: skip
        asked: list[list[str]] = []
        real = service.ledger.sessions
        monkeypatch.setattr(
            service.ledger, "sessions", lambda ids, f: asked.append(list(ids)) or real(ids, f)
        )
        pool = service.gather("gardening and tomatoes", _user_filter("u1"), limit=1)
        seeds = [i for ids in asked for i in ids]  # the keyword side's, then the dense side's
        assert 1 <= len(seeds) <= 4 and len(set(seeds)) == len(seeds)  # none read twice
        assert len(pool.candidates) >= 12  # every seed is still a candidate
        brought = {n for i in seeds for _, n in pool.neighbours.get(i, ())}
        assert brought  # the best seeds' neighbours joined the candidates
        asked.clear()
        service.gather("gardening and tomatoes", _user_filter("u1"), limit=5)
        assert 4 < len({i for ids in asked for i in ids}) <= 10
    finally:
        service.close()
