"""Tool profiles: which of the contract's tools a server publishes.

Every tool listed costs the agent's context (its description and schemas ride along with every
conversation), so ``core`` publishes only the four an agent needs most; ``full`` publishes all
nine. Chosen with ``server.tools`` in the settings.
"""

from __future__ import annotations

from collections.abc import Sequence

CORE_TOOLS = ("add_memory", "search_memory", "consolidate", "stats")


def profile_tools(profile: str, every_tool: Sequence[str]) -> list[str]:
    """The names of the tools ``profile`` publishes, in the order of ``every_tool``."""
    if profile == "full":
        return list(every_tool)
    if profile == "core":
        return [name for name in every_tool if name in CORE_TOOLS]
    raise ValueError(f"unknown tool profile {profile!r}: use 'full' or 'core'")
