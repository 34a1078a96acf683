"""Write-time redaction: secrets are cut out of a memory before it is embedded or stored.

An agent told "remember this" will sooner or later be handed a config file, a shell history or a
chat line holding an API key or a password. Stored, the secret would be recalled verbatim by any
later search, and would sit in the ledger, its history and its keyword index. So ``add`` and
``update`` pass content and metadata strings through ``redact`` first; each match is replaced
by ``[REDACTED:<kind>]`` and the reply names the kinds removed.

Pure functions over compiled ``Rule``s. The built-in rules catch secrets in their obvious forms
(provider key prefixes, private-key blocks, JWTs, bearer headers, credentials in URLs,
``password: ...`` style assignments); settings may add patterns or switch kinds off. A rule
whose pattern has a named group ``secret`` replaces that group alone, keeping the words around
it ("my password is [REDACTED:password]").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_REPLACEMENT = "[REDACTED:{kind}]"

_KEYWORDS = (
    r"password|passwd|pwd|passphrase|pass\s?code|pin\s?code|secret(?:[_ -]?key)?|"
    r"api[_ -]?key|api[_ -]?token|access[_ -]?key|access[_ -]?token|auth[_ -]?token|"
    r"client[_ -]?secret|private[_ -]?key|refresh[_ -]?token|session[_ -]?token|token"
)

BUILTIN_PATTERNS: dict[str, str] = {
    "private_key": r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
    r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    "aws_access_key": r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
    "github_token": r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
    "gitlab_token": r"\bglpat-[A-Za-z0-9_\-]{20,}\b",
    "slack_token": r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b",
    "stripe_key": r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b",
    "google_api_key": r"\bAIza[0-9A-Za-z_\-]{35}\b",
    "api_key": r"\bsk-(?:ant-|proj-|live-)?[A-Za-z0-9_\-]{20,}\b",
    "jwt": r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    "bearer_token": r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9._~+/\-]{16,}=*)",
    "url_credentials": r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:(?P<secret>[^\s@/]+)@",
    "password": r"(?i)\b(?:" + _KEYWORDS + r")\b(?:\s+(?:for|of)\s+[\w.@-]+)?"
    r"\s*(?:[:=]|\bis\b|\bwas\b)\s*[\"']?(?P<secret>[^\s\"',;]{4,})",
}


@dataclass(frozen=True)
class Rule:
    """One kind of secret and the pattern that finds it."""

    kind: str
    pattern: re.Pattern[str]


def compile_rules(
    extra: Mapping[str, str] | None = None,
    disabled: Iterable[str] = (),
    builtin: bool = True,
) -> tuple[Rule, ...]:
    """The rules in force: the built-in ones (unless off), minus ``disabled``, plus ``extra``.

    Raises ``ValueError`` naming the kind whose pattern does not compile.
    """
    patterns = dict(BUILTIN_PATTERNS) if builtin else {}
    patterns.update(extra or {})
    off = set(disabled)
    rules = []
    for kind, pattern in patterns.items():
        if kind in off:
            continue
        try:
            rules.append(Rule(kind, re.compile(pattern)))
        except re.error as exc:
            raise ValueError(f"redaction pattern {kind!r} is not a valid regex: {exc}") from None
    return tuple(rules)


def redact(
    text: str, rules: Iterable[Rule], replacement: str = DEFAULT_REPLACEMENT
) -> tuple[str, list[str]]:
    """The text with every secret replaced, and the sorted kinds that were found."""
    found: set[str] = set()
    for rule in rules:

        def swap(match: re.Match[str], kind: str = rule.kind) -> str:
            found.add(kind)
            marker = replacement.format(kind=kind)
            if "secret" in match.re.groupindex and match.group("secret") is not None:
                start, end = match.span("secret")
                whole = match.group(0)
                offset = match.start()
                return whole[: start - offset] + marker + whole[end - offset :]
            return marker

        text = rule.pattern.sub(swap, text)
    return text, sorted(found)


def redact_value(
    value: Any, rules: Iterable[Rule], replacement: str = DEFAULT_REPLACEMENT
) -> tuple[Any, list[str]]:
    """Redact every string inside a JSON-like value (dict values, list items); keys are kept."""
    rules = tuple(rules)
    if isinstance(value, str):
        return redact(value, rules, replacement)
    if isinstance(value, list):
        kinds: set[str] = set()
        items = []
        for item in value:
            clean, found = redact_value(item, rules, replacement)
            items.append(clean)
            kinds.update(found)
        return items, sorted(kinds)
    if isinstance(value, dict):
        kinds = set()
        out = {}
        for key, item in value.items():
            clean, found = redact_value(item, rules, replacement)
            out[key] = clean
            kinds.update(found)
        return out, sorted(kinds)
    return value, []
