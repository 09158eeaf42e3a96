"""Money-making actions: what a bot can be told to do, and what it turns into what.

An action is the unit the allocator hands out: a task name bots know
(``TAN_GREEN_DRAGONHIDE``), the ``params`` their task builder reads, the items
one action consumes and produces, what the account needs to do it, and how
fast it goes. Parsing is strict so a typo in an operator's file or request is
refused with the field named, never stored. Coins (item 995) are money, not
goods: an action lists a fee (the tanner's) as a coin input and an alchemy
result as a coin output; they are never bought, sold or taxed on the GE.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Collection, Mapping, Optional, TypeVar

import attrs

from osrs_twisted.market.validation import (
    MAX_QUANTITY,
    MAX_TEXT,
    FieldError,
    expect_bool,
    expect_int,
    expect_list,
    expect_number,
    expect_object,
    expect_present,
    expect_text,
    expect_upper_snake,
    field_path,
)

COINS_ID = 995
"""Coins: always a known item, valued at 1 gp each, never taxed or limited."""

SKILLS: tuple[str, ...] = (
    "attack", "strength", "defence", "ranged", "prayer", "magic", "runecraft", "construction",
    "hitpoints", "agility", "herblore", "thieving", "crafting", "fletching", "slayer", "hunter",
    "mining", "smithing", "fishing", "cooking", "firemaking", "woodcutting", "farming",
)  # fmt: skip
"""The 23 OSRS skills, lower case (as bots name them in ``xpGained``)."""

MAX_LEVEL = 99
MAX_ACTIONS_PER_HOUR = 1_000_000
MAX_XP_PER_ACTION = 1_000_000.0
MAX_ITEMS_PER_SIDE = 32
MAX_ACTIONS = 10_000

STARTER_RESOURCE = "starter_actions.json"

T = TypeVar("T")

_ACTION_FIELDS = (
    "name", "type", "params", "inputs", "outputs", "requirements", "actionsPerHour", "experience", "members",
)  # fmt: skip
_AMOUNT_FIELDS = ("itemId", "quantity")
_REQUIREMENT_FIELDS = ("skills", "items", "quests")
_DOCUMENT_FIELDS = ("actions", "items")


@attrs.frozen
class ItemAmount:
    """So many of one item per action."""

    item_id: int
    quantity: int


@attrs.frozen
class Requirements:
    """What an account needs before it can do an action."""

    #: Skill → the lowest level that may do the action.
    skills: Mapping[str, int] = attrs.field(factory=dict)
    #: Items the account must own (tools, a staff), not consumed.
    items: frozenset[int] = frozenset()
    #: Quests the account must have completed, by name.
    quests: frozenset[str] = frozenset()

    def unmet(self, skills: Mapping[str, int], quests: Collection[str], items: Collection[int]) -> Optional[str]:
        """Why an account with these levels, quests and items cannot do it; ``None`` when it can.

        A skill the account did not report counts as level 1, where every
        account starts.
        """
        for skill in sorted(self.skills):
            if skills.get(skill, 1) < self.skills[skill]:
                return f"needs {skill} {self.skills[skill]}"
        for quest in sorted(self.quests):
            if quest not in quests:
                return f"needs quest {quest}"
        for item_id in sorted(self.items):
            if item_id not in items:
                return f"needs item {item_id}"
        return None


@attrs.frozen
class Action:
    """One money-making method, as the allocator hands it to a bot."""

    #: Unique; the task name bots know, UPPER_SNAKE_CASE.
    name: str
    #: The kind of task (``TAN_LEATHER``), shared by variants that differ in ``params``.
    type: str
    #: Free JSON object handed to the bot with the task.
    params: Mapping[str, Any]
    inputs: tuple[ItemAmount, ...]
    outputs: tuple[ItemAmount, ...]
    requirements: Requirements
    actions_per_hour: int
    #: Skill → experience gained per action.
    experience: Mapping[str, float]
    members: bool

    @property
    def xp_per_action(self) -> float:
        """Experience per action over every skill."""
        return sum(self.experience.values())


def parse_action(obj: Any, known_item_ids: Optional[Collection[int]], field: str = "") -> Action:
    """Read one action from parsed JSON; ``known_item_ids`` ``None`` skips the item-existence check."""
    body = expect_object(obj, field, _ACTION_FIELDS)
    inputs = _parse_amounts(expect_present(body, "inputs", field), known_item_ids, field_path(field, "inputs"))
    outputs = _parse_amounts(expect_present(body, "outputs", field), known_item_ids, field_path(field, "outputs"))
    if not inputs and not outputs:
        raise FieldError(field_path(field, "outputs"), "must not be empty when inputs is empty")
    params = body.get("params", {})
    if not isinstance(params, dict):
        raise FieldError(field_path(field, "params"), "must be a JSON object")
    return Action(
        name=expect_upper_snake(expect_present(body, "name", field), field_path(field, "name")),
        type=expect_upper_snake(expect_present(body, "type", field), field_path(field, "type")),
        params=params,
        inputs=inputs,
        outputs=outputs,
        requirements=_parse_requirements(
            body.get("requirements", {}), known_item_ids, field_path(field, "requirements")
        ),
        actions_per_hour=expect_int(
            expect_present(body, "actionsPerHour", field),
            field_path(field, "actionsPerHour"),
            1,
            MAX_ACTIONS_PER_HOUR,
        ),
        experience=_parse_experience(body.get("experience", {}), field_path(field, "experience")),
        members=expect_bool(expect_present(body, "members", field), field_path(field, "members")),
    )


def parse_actions(obj: Any, known_item_ids: Optional[Collection[int]], field: str = "actions") -> tuple[Action, ...]:
    """Read a list of actions whose names are unique."""
    entries = expect_list(obj, field, MAX_ACTIONS)
    actions: list[Action] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(entries):
        action = parse_action(entry, known_item_ids, field_path(field, index))
        if action.name in first_index:
            raise FieldError(
                field_path(field_path(field, index), "name"),
                f"{action.name} duplicates {field_path(field, first_index[action.name])}",
            )
        first_index[action.name] = index
        actions.append(action)
    return tuple(actions)


def parse_actions_document(doc: Any, known_item_ids: Optional[Collection[int]]) -> tuple[Action, ...]:
    """Read an actions file: ``{"actions": [...], "items": {"<id>": "<name>"}}``.

    ``items`` is an optional legend naming the ids the file uses, for people
    reading it; when present, every id the actions use must be in it.
    """
    body = expect_object(doc, "", _DOCUMENT_FIELDS)
    actions = parse_actions(expect_present(body, "actions", ""), known_item_ids)
    if "items" in body:
        legend = _parse_legend(body["items"])
        for index, action in enumerate(actions):
            for where, item_id in _item_references(action, f"actions[{index}]"):
                if item_id != COINS_ID and item_id not in legend:
                    raise FieldError(where, f"{item_id} is not named in items")
    return actions


def load_actions_file(path: Path, known_item_ids: Optional[Collection[int]]) -> tuple[Action, ...]:
    """Read an actions file from disk (``--actions-file``); bad JSON is a ``FieldError`` too."""
    return _load_text(path.read_text(encoding="utf-8"), known_item_ids)


def load_starter_actions(known_item_ids: Optional[Collection[int]] = None) -> tuple[Action, ...]:
    """The starter set shipped with the package."""
    text = resources.files(__package__).joinpath(STARTER_RESOURCE).read_text(encoding="utf-8")
    return _load_text(text, known_item_ids)


def to_record(action: Action) -> str:
    """The action as JSON text for the store, in the same shape ``parse_action`` reads."""
    requirements: dict[str, Any] = {}
    if action.requirements.skills:
        requirements["skills"] = dict(sorted(action.requirements.skills.items()))
    if action.requirements.items:
        requirements["items"] = sorted(action.requirements.items)
    if action.requirements.quests:
        requirements["quests"] = sorted(action.requirements.quests)
    return json.dumps(
        {
            "name": action.name,
            "type": action.type,
            "params": action.params,
            "inputs": [_amount_record(amount) for amount in action.inputs],
            "outputs": [_amount_record(amount) for amount in action.outputs],
            "requirements": requirements,
            "actionsPerHour": action.actions_per_hour,
            "experience": dict(sorted(action.experience.items())),
            "members": action.members,
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def from_record(text: str) -> Action:
    """An action the store kept with ``to_record`` (its item ids were checked when it was written)."""
    return parse_action(json.loads(text), None)


def _load_text(text: str, known_item_ids: Optional[Collection[int]]) -> tuple[Action, ...]:
    try:
        doc = json.loads(text)
    except ValueError as error:
        raise FieldError("body", f"is not valid JSON: {error}") from None
    return parse_actions_document(doc, known_item_ids)


def _item_references(action: Action, field: str) -> list[tuple[str, int]]:
    """Every item id an action names, with the path it was read from."""
    references = [
        (field_path(field_path(field_path(field, side), index), "itemId"), amount.item_id)
        for side, amounts in (("inputs", action.inputs), ("outputs", action.outputs))
        for index, amount in enumerate(amounts)
    ]
    required = field_path(field, "requirements.items")
    references.extend((required, item_id) for item_id in sorted(action.requirements.items))
    return references


def _amount_record(amount: ItemAmount) -> dict[str, int]:
    return {"itemId": amount.item_id, "quantity": amount.quantity}


def _parse_item_id(value: Any, known_item_ids: Optional[Collection[int]], field: str) -> int:
    item_id = expect_int(value, field, 0)
    if known_item_ids is not None and item_id != COINS_ID and item_id not in known_item_ids:
        raise FieldError(field, f"{item_id} is not a known item id")
    return item_id


def _parse_amounts(obj: Any, known_item_ids: Optional[Collection[int]], field: str) -> tuple[ItemAmount, ...]:
    entries = expect_list(obj, field, MAX_ITEMS_PER_SIDE)
    amounts: list[ItemAmount] = []
    seen: dict[int, int] = {}
    for index, entry in enumerate(entries):
        where = field_path(field, index)
        body = expect_object(entry, where, _AMOUNT_FIELDS)
        item_id = _parse_item_id(expect_present(body, "itemId", where), known_item_ids, field_path(where, "itemId"))
        if item_id in seen:
            earlier = field_path(field, seen[item_id])
            raise FieldError(field_path(where, "itemId"), f"{item_id} is already listed at {earlier}")
        seen[item_id] = index
        quantity = expect_int(expect_present(body, "quantity", where), field_path(where, "quantity"), 1, MAX_QUANTITY)
        amounts.append(ItemAmount(item_id, quantity))
    return tuple(amounts)


def _parse_skill(name: Any, field: str) -> str:
    if not isinstance(name, str) or name.lower() not in SKILLS:
        raise FieldError(field, f"{name!r} is not an OSRS skill")
    return name.lower()


def _parse_requirements(obj: Any, known_item_ids: Optional[Collection[int]], field: str) -> Requirements:
    body = expect_object(obj, field, _REQUIREMENT_FIELDS)
    skills: dict[str, int] = {}
    skill_levels = body.get("skills", {})
    if not isinstance(skill_levels, dict):
        raise FieldError(field_path(field, "skills"), "must be a JSON object")
    for name, level in skill_levels.items():
        where = field_path(field_path(field, "skills"), name)
        skill = _parse_skill(name, where)
        if skill in skills:
            raise FieldError(where, f"names {skill} twice")
        skills[skill] = expect_int(level, where, 1, MAX_LEVEL)
    def parse_item(value: Any, where: str) -> int:
        return _parse_item_id(value, known_item_ids, where)

    items = _parse_set(body.get("items", []), field_path(field, "items"), parse_item)
    quests = _parse_set(body.get("quests", []), field_path(field, "quests"), expect_text)
    return Requirements(dict(sorted(skills.items())), items, quests)


def _parse_set(obj: Any, field: str, parse_one: Callable[[Any, str], T]) -> frozenset[T]:
    """A JSON array of distinct values, each read by ``parse_one(value, path)``."""
    values: set[T] = set()
    for index, entry in enumerate(expect_list(obj, field, MAX_ITEMS_PER_SIDE)):
        where = field_path(field, index)
        value = parse_one(entry, where)
        if value in values:
            raise FieldError(where, f"{value!r} is listed twice")
        values.add(value)
    return frozenset(values)


def _parse_experience(obj: Any, field: str) -> Mapping[str, float]:
    if not isinstance(obj, dict):
        raise FieldError(field, "must be a JSON object")
    experience: dict[str, float] = {}
    for name, amount in obj.items():
        where = field_path(field, name)
        skill = _parse_skill(name, where)
        if skill in experience:
            raise FieldError(where, f"names {skill} twice")
        experience[skill] = expect_number(amount, where, MAX_XP_PER_ACTION)
    return dict(sorted(experience.items()))


def _parse_legend(obj: Any) -> frozenset[int]:
    if not isinstance(obj, dict):
        raise FieldError("items", "must be a JSON object of item id → name")
    ids: set[int] = set()
    for key, name in obj.items():
        where = field_path("items", key)
        if not key.isdigit():
            raise FieldError(where, "must be keyed by an item id")
        expect_text(name, where, MAX_TEXT)
        ids.add(int(key))
    return frozenset(ids)
