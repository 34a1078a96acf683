"""Which bearer tokens a network entry point requires: never none by accident.

A network server (``serve --transport sse|http``, or any other entry point that answers HTTP)
asks ``effective_tokens``. The configured tokens (``[security] tokens``) when there are any;
otherwise one generated on first use and kept in ``security.token_file`` (by default
``token`` in the user config dir), so that no local process or user can read every memory
from 127.0.0.1 by default. ``security.no_auth`` (``serve --no-auth``) serves without a token,
on a loopback address only.

The generated file is created atomically and readable by its owner alone from the first
byte: written to a private temporary file (mode 0600) in the same directory, then linked into
place, which fails rather than replaces when another process got there first (both then use
the winner's token). A token file that other users may read is refused, as ssh refuses a
readable key.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mcp_memory.config import Settings, TokenSettings
from mcp_memory.errors import ConfigError

GENERATED_NAME = "generated"
MIN_CHARS = 16


@dataclass(frozen=True)
class RequiredTokens:
    """The tokens a network server requires; ``generated`` names the file of a generated one
    in use, and ``created`` says whether it was created just now."""

    tokens: list[TokenSettings] = field(default_factory=list)
    generated: Path | None = None
    created: bool = False


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` only accepts connections from this machine."""
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def effective_tokens(settings: Settings, host: str | None = None) -> list[TokenSettings]:
    """The tokens a network server bound to ``host`` (default: ``server.host``) must require:
    empty only under ``no_auth`` on a loopback address. Creates the generated token when none
    is configured and none was generated yet."""
    return required_tokens(settings, host).tokens


def required_tokens(settings: Settings, host: str | None = None) -> RequiredTokens:
    """``effective_tokens`` with where a generated token lives and whether it is new."""
    security = settings.security
    host = settings.server.host if host is None else host
    if security.no_auth:
        if not is_loopback(host):
            raise ConfigError(
                f"--no-auth is refused on {host}: without a token anyone who can reach that "
                "address could read and change every memory. Serve 127.0.0.1 with --no-auth, "
                "or drop --no-auth (a token is then required)"
            )
        if security.tokens:
            raise ConfigError(
                "--no-auth (security.no_auth) and [security] tokens contradict each other: "
                "remove the tokens from the config, or drop --no-auth"
            )
        return RequiredTokens()
    if security.tokens:
        return RequiredTokens(list(security.tokens))
    path = security.token_file.expanduser()
    secret, created = generated_token(path)
    return RequiredTokens([TokenSettings(token=secret, name=GENERATED_NAME)], path, created)


def generated_token(path: Path) -> tuple[str, bool]:
    """The token kept in ``path``, created if the file is missing; (token, created now)."""
    try:
        return read_token(path), False
    except FileNotFoundError:
        pass
    created = _create(path)
    return read_token(path), created


def read_token(path: Path) -> str:
    """The token in ``path``; ``FileNotFoundError`` if absent, ``ConfigError`` if it is
    readable by others or holds no usable token."""
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the token file {path}: {_reason(exc)}") from None
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"the token file {path} is open to other users (mode "
            f"{stat.filemode(info.st_mode)}): run `chmod 600 {path}`, or delete it to have a "
            "new token generated"
        )
    token = text.strip()
    if len(token) < MIN_CHARS or any(c.isspace() for c in token):
        raise ConfigError(
            f"the token file {path} holds no token (one line of at least {MIN_CHARS} "
            "characters, no spaces): delete it to have a new one generated"
        )
    return token


def _create(path: Path) -> bool:
    """Write a new random token to ``path`` unless a file appeared there meanwhile; True if
    this call created it."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".token-")  # mode 0600
    except OSError as exc:
        raise ConfigError(
            f"cannot create the token file {path}: {_reason(exc)}; set [security] token_file "
            "to a writable path, or configure [security] tokens"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: an exclusive create instead
            return _create_exclusive(path, Path(temporary).read_text(encoding="utf-8"))
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _create_exclusive(path: Path, text: str) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return True


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)
