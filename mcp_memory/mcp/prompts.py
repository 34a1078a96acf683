"""A prompt a person can pick in their client to brief the agent on using its memory."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

MEMORY_GUIDE = """You have a long-term memory that persists across conversations (tools: add_memory,
search_memory, and in the full profile get/list/update/delete_memory and memory_history).
{who}
When to search (search_memory):
- At the start of a task or conversation, and before answering anything about the user, their
  preferences, people, projects, decisions or earlier conversations. Search with a natural
  question ("what editor does she use?"), not a keyword list.
- Before adding, to avoid storing what is already known; update_memory corrects a memory that
  is out of date instead of adding a contradicting one.

When to add (add_memory):
- Durable facts, preferences, decisions, commitments and notable events; things the user would
  be annoyed to repeat. Not small talk, not what is only true for the next minute, not secrets
  such as passwords or keys.
- One self-contained statement per memory, understandable out of context: "Dana prefers
  window seats on long flights", not "she likes that".
- category: preference, fact, experience, relationship, skill or general; memory_type:
  semantic (facts, preferences), episodic (events; pass created_at when it happened earlier)
  or procedural (how to do something).
- importance (0..1) only when you know better than the default; "always"/"never"/"prefer"
  wording already raises it.

Scopes:
- user_id: the person the memory is about or belongs to. Always pass it when you know who the
  user is, so their memories never mix with another's.
- agent_id: this app or agent, for what only matters to it (e.g. a coding agent's notes on a
  repository).
- session_id: one conversation or task, for context that should stay together.
- Filters work the same way: user_id alone searches all of that user's agents and sessions.

Housekeeping: call consolidate (dry_run first) now and then to merge duplicates; stats shows
what is stored."""


def use_memory(user_id: str | None = None) -> str:
    who = (
        f"The user is {user_id!r}: pass user_id={user_id!r} to every memory tool.\n"
        if user_id
        else ""
    )
    return MEMORY_GUIDE.format(who=who)


def register_prompts(mcp: MCPServer) -> None:
    """Publish ``use_memory`` on ``mcp``."""
    mcp.prompt(
        name="use_memory",
        title="How to use long-term memory",
        description="Guidance for the agent: when to search, what to add, how to set scopes.",
    )(use_memory)
