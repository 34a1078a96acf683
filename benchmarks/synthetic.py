"""Synthetic but realistic memories for the speed benchmarks: varied sentences, many users.

Each memory is one self-contained statement about a user (preferences, facts, events, skills,
relationships), built from templates and word lists, so texts vary in wording, length and topic
the way an agent's memories do. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

PEOPLE = (
    "my sister", "my brother", "my manager", "a colleague named Priya", "my neighbour Tom",
    "my friend Luca", "the new intern", "my partner", "my mother", "an old classmate",
    "the landlord", "my dentist", "our team lead", "a client from Berlin", "my cousin Ana",
)  # fmt: skip
FOODS = (
    "green tea", "dark roast coffee", "spicy ramen", "sourdough bread", "oat milk lattes",
    "vegetarian curry", "sushi", "margherita pizza", "fresh figs", "lemon tart", "miso soup",
    "black olives", "grilled salmon", "chocolate croissants", "mango lassi",
)  # fmt: skip
PLACES = (
    "Lisbon", "the mountains", "Kyoto", "the office in Zurich", "the beach house", "Montreal",
    "the climbing gym", "a cabin near the lake", "Buenos Aires", "the public library",
    "the farmers market", "Edinburgh", "the coworking space", "Seoul", "the old harbour",
)  # fmt: skip
TOPICS = (
    "the billing service migration", "the quarterly budget", "a Rust rewrite of the parser",
    "the mobile app launch", "the data retention policy", "the onboarding checklist",
    "flaky integration tests", "the Postgres upgrade", "the design system", "GDPR requests",
    "the on-call rotation", "search relevance tuning", "the API rate limits",
    "the analytics dashboard", "a memory leak in the worker",
)  # fmt: skip
SKILLS = (
    "Python", "woodworking", "Spanish", "rock climbing", "TypeScript", "sourdough baking",
    "the cello", "SQL query tuning", "watercolour painting", "Kubernetes", "chess openings",
    "public speaking", "Japanese", "bouldering", "sailing",
)  # fmt: skip
WHEN = (
    "last weekend", "every Monday morning", "since college", "two years ago", "on Friday",
    "during the holidays", "most evenings", "after the team offsite", "in early spring",
    "before the deadline", "this quarter", "when travelling", "at least once a month",
)  # fmt: skip
TEMPLATES = (
    ("preference", "semantic", "{u} prefers {food} over anything else {when}."),
    ("preference", "semantic", "{u} really dislikes {food} and never orders it."),
    ("preference", "semantic", "For meetings, {u} always wants an agenda sent the day before."),
    ("fact", "semantic", "{u} lives near {place} and works remotely {when}."),
    ("fact", "semantic", "{u} is responsible for {topic} and reports to {person}."),
    ("fact", "semantic", "The deadline for {topic} moved to the end of the month."),
    ("experience", "episodic", "{u} travelled to {place} with {person} {when}."),
    ("experience", "episodic", "{u} had a long discussion about {topic} with {person} {when}."),
    ("experience", "episodic", "{u} cooked {food} for {person} {when} and it went well."),
    ("relationship", "semantic", "{person} is an important contact for {u} on {topic}."),
    ("relationship", "semantic", "{u} met {person} in {place} {when}."),
    ("skill", "procedural", "{u} has been learning {skill} {when} and practises daily."),
    ("skill", "procedural", "To deploy {topic}, {u} runs the checks first and then tags a release."),
    ("general", "semantic", "{u} mentioned that {topic} is blocked on a review from {person}."),
    ("general", "episodic", "{u} asked to be reminded about {topic} {when}."),
)  # fmt: skip


def user_ids(count: int) -> list[str]:
    return [f"user-{i:04d}" for i in range(count)]


def memories(total: int, users: int, seed: int = 7, now: datetime | None = None) -> Iterator[dict]:
    """``total`` import records spread round-robin over ``users`` users, each with a session."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    ids = user_ids(users)
    seen: set[tuple[int, str]] = set()
    for i in range(total):
        category, mtype, template = rng.choice(TEMPLATES)
        text = template.format(
            u=f"User {i % users}",
            food=rng.choice(FOODS),
            place=rng.choice(PLACES),
            topic=rng.choice(TOPICS),
            person=rng.choice(PEOPLE),
            skill=rng.choice(SKILLS),
            when=rng.choice(WHEN),
        )
        if rng.random() < 0.3 or (i % users, text) in seen:
            text += f" Note {i}: {rng.choice(TOPICS)} came up again in {rng.choice(PLACES)}."
        seen.add((i % users, text))
        yield {
            "content": text,
            "user_id": ids[i % users],
            "session_id": f"s{rng.randrange(20)}",
            "category": category,
            "memory_type": mtype,
            "metadata": {"source": "synthetic", "n": i},
            "created_at": (now - timedelta(minutes=rng.randrange(400 * 24 * 60))).isoformat(),
        }


def queries(count: int, seed: int = 11) -> list[str]:
    """Natural questions an agent would ask of such a store."""
    rng = random.Random(seed)
    forms = (
        "What does the user like to drink in the morning?",
        "Who is responsible for {topic}?",
        "When did they travel to {place}?",
        "What food does the user dislike?",
        "Which skill are they learning, {skill}?",
        "What is blocking {topic}?",
        "Who did they meet in {place}?",
        "How do they deploy {topic}?",
        "Does the user prefer {food}?",
        "What happened with {person} recently?",
    )
    return [
        rng.choice(forms).format(
            topic=rng.choice(TOPICS),
            place=rng.choice(PLACES),
            skill=rng.choice(SKILLS),
            food=rng.choice(FOODS),
            person=rng.choice(PEOPLE),
        )
        + ("" if i < 1000 else f" ({i})")
        for i in range(count)
    ]
