"""The arguments of the tools, as the agent reads them in each tool's input schema, and the
rules every tool's arguments follow.

Each argument type carries its description (and, for a choice, the allowed values; for a
number, its bounds), written once and shared by every tool that takes the argument. The schema
mostly informs the agent: the service checks every value itself and says what was wrong.

Two mistakes never reach the service, because the SDK's argument model would let them through
unnoticed: an argument the tool does not take (a misspelt ``userid`` would be dropped, and the
memory stored in the global scope) and a boolean given for a number (``limit=true`` would read
as 1). ``strict_arguments`` turns the SDK's model of a tool's arguments into one that refuses
both with a message naming the argument; its schema says ``additionalProperties: false``.
"""

from __future__ import annotations

from difflib import get_close_matches
from enum import Enum
from typing import Annotated, Any, get_args

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator
from pydantic_core import PydanticCustomError

from mcp_memory.models import Category, ListOrder, MemoryType, Retention, Stage


def _choice(values: type[Enum], description: str) -> Any:
    """A string field whose schema lists the allowed values; the service checks them."""
    return Field(description=description, json_schema_extra={"enum": [v.value for v in values]})


def _bounded(description: str, low: int, high: int) -> Any:
    """A number field whose schema states its bounds; the service checks them."""
    return Field(description=description, json_schema_extra={"minimum": low, "maximum": high})


# Scopes: who a memory belongs to, or which memories a call looks at.
UserId = Annotated[
    str | None,
    Field(description="The user this memory is about or belongs to, e.g. 'alice'. Filters by it."),
]
AgentId = Annotated[str | None, Field(description="The agent or app scope, e.g. 'coding-agent'.")]
SessionId = Annotated[
    str | None, Field(description="The conversation or session, to keep its memories together.")
]
MemoryId = Annotated[str, Field(description="The memory's id.")]

# add_memory
Content = Annotated[str, Field(description="The text to remember: one self-contained statement.")]
MemoryTypeChoice = Annotated[
    str,
    _choice(
        MemoryType,
        "episodic (an event), semantic (a fact or preference) or procedural (how to do something).",
    ),
]
CategoryChoice = Annotated[str, _choice(Category, "What it is about; sets its base importance.")]
Metadata = Annotated[
    dict[str, Any] | None,
    Field(
        description="JSON object of extra fields; values are strings, numbers, booleans or "
        'lists of those, e.g. {"project": "alpha", "tags": ["db"]}.'
    ),
]
Importance = Annotated[
    float | None, _bounded("0..1; leave empty to compute it from category and wording.", 0, 1)
]
RetentionChoice = Annotated[
    str | None, _choice(Retention, "How long to keep it; leave empty to derive from importance.")
]
CreatedAt = Annotated[
    str | None,
    Field(
        description="ISO-8601 time the remembered thing happened, if not now (e.g. "
        "'2024-05-08T13:56:00Z'); not in the future."
    ),
]

# search_memory and list_memories: filters
Query = Annotated[str, Field(description="What to recall, in natural language.")]
OnlyMemoryType = Annotated[str | None, _choice(MemoryType, "Only this type.")]
OnlyCategory = Annotated[str | None, _choice(Category, "Only this category.")]
MetadataMatch = Annotated[
    dict[str, Any] | None,
    Field(description="Only memories whose metadata has these exact key/value pairs."),
]
Since = Annotated[
    str | None, Field(description="Only memories created at or after this ISO-8601 time.")
]
Until = Annotated[
    str | None, Field(description="Only memories created at or before this ISO-8601 time.")
]
SearchLimit = Annotated[int, _bounded("How many results, 1..100.", 1, 100)]
MinScore = Annotated[float | None, Field(description="Drop results scoring below this.")]
WithArchived = Annotated[bool, Field(description="Also search archived (aged-out) memories.")]
OnlyStage = Annotated[
    str | None,
    _choice(Stage, "Only this lifecycle stage; archived memories are listed only this way."),
]
PageSize = Annotated[int, _bounded("Page size, 1..100.", 1, 100)]
Offset = Annotated[int, Field(description="How many to skip, for paging.")]
Order = Annotated[
    str,
    _choice(ListOrder, "Newest created/updated, most important or most recently accessed first."),
]

# update_memory: what to change
NewContent = Annotated[str | None, Field(description="New text.")]
NewMetadata = Annotated[
    dict[str, Any] | None, Field(description="New metadata (replaces the old object).")
]
NewImportance = Annotated[float | None, _bounded("New importance, 0..1.", 0, 1)]
NewMemoryType = Annotated[str | None, _choice(MemoryType, "New type.")]
NewCategory = Annotated[str | None, _choice(Category, "New category.")]
NewStage = Annotated[str | None, _choice(Stage, "'active' restores an archived memory.")]

# consolidate
DryRun = Annotated[bool, Field(description="Only report what would change; change nothing.")]
UndoRun = Annotated[
    str | None,
    Field(description="A run_id from an earlier consolidate: put back what it changed."),
]


class _Refusing(BaseModel):
    """Mixed into a tool's argument model: other arguments are refused, booleans are not
    numbers. Both are checked before the fields, so the message is about the mistake."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_and_booleans(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        names = [field.alias or name for name, field in cls.model_fields.items()]
        if unknown := [key for key in data if key not in names]:
            raise PydanticCustomError(
                "unknown_argument", "{message}", {"message": unknown_arguments(unknown, names)}
            )
        for name, field in cls.model_fields.items():
            value = data.get(field.alias or name)
            if isinstance(value, bool) and _takes_number(field.annotation):
                raise PydanticCustomError(
                    "bool_not_number",
                    "argument '{name}' must be a number, not true or false",
                    {"name": field.alias or name},
                )
        return data


def _takes_number(annotation: Any) -> bool:
    return any(t in (int, float) for t in get_args(annotation) or (annotation,))


def unknown_arguments(unknown: list[str], names: list[str]) -> str:
    """What to tell the agent about arguments the tool does not take: the nearest valid name
    of each, or else the names it takes."""
    said, lost = [], False
    for key in unknown:
        nearest = get_close_matches(key.lower(), names, n=1, cutoff=0.6)
        said.append(
            f"unknown argument {key!r}" + (f": did you mean {nearest[0]!r}?" if nearest else "")
        )
        lost = lost or not nearest
    text = "; ".join(said)
    return f"{text} (the arguments are {', '.join(names)})" if lost else text


def strict_arguments(model: type[BaseModel]) -> type[BaseModel]:
    """The SDK's argument model of a tool (same name, fields and schema), refusing arguments
    it does not declare and booleans for numbers."""
    return create_model(model.__name__, __base__=(model, _Refusing), __module__=model.__module__)
