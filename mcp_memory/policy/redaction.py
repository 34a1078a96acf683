"""Write-time redaction: secrets are cut out of a memory before it is embedded or stored.

An agent told "remember this" will sooner or later be handed a config file, a shell history or a
chat line holding an API key or a password. Stored, the secret would be recalled verbatim by any
later search, and would sit in the ledger, its history and its keyword index. So ``add`` and
``update`` pass content and metadata strings through ``redact`` first; each match is replaced
by ``[REDACTED:<kind>]`` and the reply names the kinds removed.

Pure functions over compiled ``Rule``s. The built-in rules catch secrets in their obvious forms
(provider key prefixes, AWS secret keys, private-key blocks, JWTs, bearer headers, credentials in
URLs, Slack webhooks, payment card numbers, ``password: ...`` style assignments); settings may
add patterns or switch kinds off. A rule whose pattern has a named group ``secret`` replaces that
group alone, keeping the words around it ("my password is [REDACTED:password]").

The assignment rule is where secrets hide in the most shapes, so it is built from parts:
a *name* (a secret-ish word, also as the tail of an identifier: ``AWS_SECRET_ACCESS_KEY``,
``db.password``, ``clientSecret``), a *separator* (``:``, ``=``, ``=>``, ``--flag value``, or
prose: "is", "was set to"), and a *value*. After ``:``/``=`` the value runs to the end of the
line (a passphrase has spaces) unless quoted or followed by another field; in prose it runs to
the end of the clause. A value opening with a word that describes rather than holds a secret
("the token is *valid* for 30 days", "the password is *in* Vault") is left alone. Every part is
written to scan in linear time: redaction runs before length limits are checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

DEFAULT_REPLACEMENT = "[REDACTED:{kind}]"

_KEYWORDS = (
    r"password|passwd|pwd|pass[_ -]?phrase|pass[_ -]?code|pin[_ -]?code|secret(?:[_ -]?key)?|"
    r"api[_ -]?key|api[_ -]?token|access[_ -]?key|access[_ -]?token|auth[_ -]?token|"
    r"client[_ -]?secret|private[_ -]?key|refresh[_ -]?token|session[_ -]?token|token|"
    r"credentials?"
)
# A secret-ish word alone, or ending an identifier: aws_secret_access_key, db.password, x-api-key,
# DB_PASS (env style only: "boarding_pass" is not a secret), clientSecret / SecretAccessKey.
# It starts where no identifier goes on before it, so each identifier is scanned once.
_NAME = (
    r"(?<![A-Za-z0-9_.])(?<![A-Za-z0-9]-)(?:"
    r"(?:[A-Za-z0-9]+[_.-])+(?:" + _KEYWORDS + r")"
    r"|(?-i:(?:[A-Z0-9]+_)+PASS)"
    r"|(?-i:[a-zA-Z][a-z0-9]*(?:[A-Z][a-z0-9]*)*(?=[A-Z]))(?:" + _KEYWORDS + r")"
    r"|(?:" + _KEYWORDS + r"))(?![A-Za-z0-9_])"
)
# "password for bob@example.com is ...", "token for the CI: ..."
_QUALIFIER = (
    r"(?:[ \t]+(?:for|of|on|to|at)(?:[ \t]+(?:the|my|our|your|this|that))?"
    r"(?:[ \t]+[\w.@/-]+){1,2})?"
)
_SEP_ASSIGN = r"(?:[\"'`]|\*\*|__)?[ \t]*(?::=|=>|[:=])(?:\*\*|__)?[ \t]*"
_SEP_PROSE = (
    r"[ \t]+(?:(?:is|was)(?:[ \t]+(?:now|still|currently|also|actually|just))?"
    r"|(?:(?:is|was|has[ \t]+been|had[ \t]+been|got)[ \t]+)?"
    r"(?:set|changed|updated|reset|rotated)[ \t]+to)\b(?:[ \t]*:)?[ \t]*"
)
# Words that open a description of the secret rather than the secret itself ("is stored in
# Vault", "was refreshed at 10:00", "password: str").
_NOT_A_VALUE = (
    r"[a-z]+(?:ed|en|ing)[ \t]+(?:at|on|in|by|for|to|with|from|after|before|via|into|every|"
    r"yesterday|today|tomorrow|last|next|daily|weekly|monthly)|"
    r"a|an|the|this|that|these|those|my|our|your|his|her|their|its|it|is|was|be|been|not|no|"
    r"none|never|in|on|at|to|by|of|for|from|with|without|via|under|inside|about|also|see|ask|"
    r"check|stored|saved|kept|required|needed|missing|wrong|incorrect|invalid|valid|expired|"
    r"revoked|rotated|changed|reset|hidden|encrypted|hashed|shared|sent|set|same|different|"
    r"below|above|here|there|too|very|empty|weak|strong|used|generated|managed|available|"
    r"unknown|optional|str|string|bytes|int|bool|null|nil|true|false"
)
# References to a secret kept elsewhere: ${VAR}, {{ secrets.X }}, <your-token>.
_REFERENCE = r"\$\{|\{\{|<[\w -]+>"
# After ":" or "=" a value ends at the end of its line, or where another field, command-line
# flag, shell command or sentence begins.
_ASSIGN_END = (
    r"[,;&][ \t]*[\"'`]?[A-Za-z_][\w.-]*[\"'`]?[ \t]*(?::=|=>|[:=])"
    r"|\s[\"'`]?[A-Za-z_][\w.-]*[\"'`]?(?:=|:\s)"
    r"|\s--?[A-Za-z]"
    r"|\s(?:&&|\|\|?)\s"
    r"|[.!?]\s"
)
_ASSIGN_VALUE = r"(?:(?!" + _ASSIGN_END + r")[^\n])+(?<!\s)"
# In prose a value ends with its clause.
_PROSE_VALUE = r"(?:[^\n.,;!?]|[.,;!?](?=\S))+(?<!\s)"
_PASSWORD = "".join(
    (
        r"(?i)(?P<flag>--)?" + _NAME + _QUALIFIER,
        rf"(?:{_SEP_ASSIGN}|(?P<prose>{_SEP_PROSE})|(?(flag)[ \t]+|(?!)))",
        rf"(?=\S)(?!(?:{_NOT_A_VALUE})(?![\w-])|{_REFERENCE})",
        # quoted: up to the closing quote; else as the separator says
        r"(?P<q>[\"'`])?(?P<secret>(?(q)(?:(?!(?P=q))[^\n])+",
        rf"|(?(prose){_PROSE_VALUE}|{_ASSIGN_VALUE})))(?(q)(?P=q))",
    )
)

BUILTIN_PATTERNS: dict[str, str] = {
    "private_key": r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
    r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    # The 40-character secret has no prefix of its own: it is known by its name, or by the
    # access key id just before it (the console's credentials CSV, "id / secret" notes).
    "aws_secret_key": r"(?:(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}(?![A-Za-z0-9])"
    r"[^\n]{0,40}?|(?i:(?<![A-Za-z0-9])aws[_.-]?secret[_.-]?(?:access[_.-]?)?key)"
    r"[\"'`]?[ \t]*(?::=|=>|[:=])[ \t]*[\"'`]?)"
    r"(?<![A-Za-z0-9/+])(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
    "aws_access_key": r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
    "github_token": r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
    "gitlab_token": r"\bglpat-[A-Za-z0-9_\-]{20,}\b",
    "slack_token": r"\b(?:xox[abposre]|xapp)-[A-Za-z0-9-]{10,}\b",
    # Plain, JSON-escaped (\/) or URL-encoded (%2F): the path after the kind is the credential.
    "slack_webhook": r"(?:(?<![\w.-])|(?<=%2[Ff]))hooks\.slack(?:-gov)?\.com(?:\\?/|%2[Ff])"
    r"(?:services|workflows|triggers)(?:\\?/|%2[Ff])"
    r"(?P<secret>[A-Za-z0-9_-]+(?:(?:\\?/|%2[Ff])[A-Za-z0-9_-]+)+)",
    "stripe_key": r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b",
    "google_api_key": r"\bAIza[0-9A-Za-z_\-]{35}\b",
    "api_key": r"\bsk-(?:ant-|proj-|live-)?[A-Za-z0-9_\-]{20,}\b",
    "jwt": r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    "bearer_token": r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9._~+/\-]{16,}=*)",
    # The scheme starts where no scheme character goes on before it: one scan per word.
    "url_credentials": r"(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]*://"
    r"[^\s:/@]+:(?P<secret>[^\s@/]+)@",
    # 13-19 digits, bare or in the printed groups (4-4-4-4, 4-6-5, 4-6-4), not inside a longer
    # number or run of groups; is_card_number then asks for a card prefix and the Luhn check.
    "payment_card": r"(?<![\w.+/-])(?<!\d{4}[ -])(?:\d{13,19}"
    r"|\d{4}(?P<g>[ -])\d{4}(?P=g)\d{4}(?P=g)\d{4}|\d{4}(?P<a>[ -])\d{6}(?P=a)\d{4,5})"
    r"(?!\w|[.,]\d|[ -]\d{4}[ -]?\d)",
    "password": _PASSWORD,
}


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char) * (2 if position % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


_CARD_RANGES = (  # lowest and highest prefix, lengths
    ("4", "4", (13, 16, 19)),  # Visa
    ("51", "55", (16,)),  # Mastercard
    ("2221", "2720", (16,)),  # Mastercard
    ("34", "34", (15,)),  # American Express
    ("37", "37", (15,)),  # American Express
    ("300", "305", range(14, 20)),  # Diners Club
    ("36", "36", range(14, 20)),  # Diners Club
    ("38", "39", range(14, 20)),  # Diners Club
    ("3528", "3589", range(16, 20)),  # JCB
    ("2200", "2204", range(16, 20)),  # Mir
    ("50", "50", range(13, 20)),  # Maestro
    ("56", "69", range(13, 20)),  # Maestro, Discover, UnionPay, RuPay
)


def is_card_number(text: str) -> bool:
    """Whether the digits in ``text`` are a payment card number: a card network's prefix and
    length, and a valid Luhn check digit (so an ordinary long number is nine times in ten
    kept, and one that starts like no card always)."""
    digits = "".join(char for char in text if char.isdigit())
    if not 13 <= len(digits) <= 19 or not _luhn(digits):
        return False
    return any(
        low <= digits[: len(low)] <= high and len(digits) in lengths
        for low, high, lengths in _CARD_RANGES
    )


# What a built-in match must also pass, and which metadata keys name a built-in kind of secret
# (the value under ``{"db_password": ...}`` is replaced whole).
_ACCEPT: dict[str, Callable[[str], bool]] = {
    "payment_card": is_card_number,
    "password": lambda value: len(value.strip()) >= 4,
}
_KEY_NAMES: dict[str, str] = {"password": r"(?i)" + _NAME + r"\Z"}


@dataclass(frozen=True)
class Rule:
    """One kind of secret and the pattern that finds it.

    ``accept``, when set, must say yes to the matched text (the Luhn check of a card number);
    ``key``, when set, finds metadata keys whose values are this kind of secret whole.
    """

    kind: str
    pattern: re.Pattern[str]
    accept: Callable[[str], bool] | None = None
    key: re.Pattern[str] | None = None


def compile_rules(
    extra: Mapping[str, str] | None = None,
    disabled: Iterable[str] = (),
    builtin: bool = True,
) -> tuple[Rule, ...]:
    """The rules in force: the built-in ones (unless off), minus ``disabled``, plus ``extra``.

    A kind that ``extra`` redefines loses the built-in checks that went with its pattern.
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
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"redaction pattern {kind!r} is not a valid regex: {exc}") from None
        if builtin and BUILTIN_PATTERNS.get(kind) == pattern:
            key = _KEY_NAMES.get(kind)
            rules.append(Rule(kind, compiled, _ACCEPT.get(kind), key and re.compile(key)))
        else:
            rules.append(Rule(kind, compiled))
    return tuple(rules)


def _marker(replacement: str) -> re.Pattern[str] | None:
    """What an earlier replacement looks like, so that no rule redacts a marker again."""
    parts = replacement.format(kind="\0").split("\0")
    if not "".join(parts).strip():
        return None
    return re.compile(r"[\w.-]*".join(re.escape(part) for part in parts))


def _swap(
    rule: Rule, marker: re.Pattern[str] | None, replacement: str, found: set[str], match: re.Match
) -> str:
    named = "secret" in match.re.groupindex and match.group("secret") is not None
    part = "secret" if named else 0
    start, end = match.span(part)
    secret = match.string[start:end]
    if (marker is not None and marker.match(secret)) or (rule.accept and not rule.accept(secret)):
        return match.group(0)
    found.add(rule.kind)
    head, tail = match.string[match.start() : start], match.string[end : match.end()]
    return head + replacement.format(kind=rule.kind) + tail


def redact(
    text: str, rules: Iterable[Rule], replacement: str = DEFAULT_REPLACEMENT
) -> tuple[str, list[str]]:
    """The text with every secret replaced, and the sorted kinds that were found."""
    found: set[str] = set()
    marker = _marker(replacement)
    for rule in rules:
        text = rule.pattern.sub(partial(_swap, rule, marker, replacement, found), text)
    return text, sorted(found)


def redact_value(
    value: Any, rules: Iterable[Rule], replacement: str = DEFAULT_REPLACEMENT
) -> tuple[Any, list[str]]:
    """Redact every string inside a JSON-like value (dict values, list items); keys are kept.

    A value under a key that names a secret (``password``, ``aws_secret_access_key``) is
    replaced whole, whatever it looks like: the key says what it is.
    """
    return _redact_value(value, tuple(rules), replacement, None)


def _redact_value(
    value: Any, rules: tuple[Rule, ...], replacement: str, under: str | None
) -> tuple[Any, list[str]]:
    """``redact_value``; ``under`` is the kind named by a key above this value, if any."""
    if isinstance(value, str):
        text, kinds = redact(value, rules, replacement)
        marker = _marker(replacement)
        if under is None or kinds or not text.strip() or (marker and marker.fullmatch(text)):
            return text, kinds
        return replacement.format(kind=under), [under]
    if isinstance(value, int | float) and not isinstance(value, bool) and under is not None:
        return replacement.format(kind=under), [under]
    if isinstance(value, list | dict):
        kinds: set[str] = set()
        pairs = value.items() if isinstance(value, dict) else enumerate(value)
        out = {}
        for key, item in pairs:
            named = under or next(
                (r.kind for r in rules if r.key and isinstance(key, str) and r.key.search(key)),
                None,
            )
            out[key], found = _redact_value(item, rules, replacement, named)
            kinds.update(found)
        return (out if isinstance(value, dict) else list(out.values())), sorted(kinds)
    return value, []
