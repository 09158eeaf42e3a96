"""Actions: strict parsing naming every bad field, the record round trip, and the starter set."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.market.actions import (
    COINS_ID,
    SKILLS,
    Action,
    ItemAmount,
    Requirements,
    from_record,
    load_actions_file,
    load_starter_actions,
    parse_action,
    parse_actions,
    parse_actions_document,
    to_record,
)
from osrs_twisted.market.validation import FieldError

COAL, IRON_ORE, STEEL_BAR, KNIFE = 453, 440, 2353, 946
KNOWN = frozenset({COAL, IRON_ORE, STEEL_BAR, KNIFE})

SMELT_STEEL: dict[str, Any] = {
    "name": "SMELT_STEEL_BAR",
    "type": "SMELT_BAR",
    "params": {"barName": "Steel bar", "furnace": {"x": 3109, "y": 3499}},
    "inputs": [{"itemId": IRON_ORE, "quantity": 1}, {"itemId": COAL, "quantity": 2}],
    "outputs": [{"itemId": STEEL_BAR, "quantity": 1}],
    "requirements": {"skills": {"Smithing": 30}, "items": [KNIFE], "quests": ["Knight's Sword"]},
    "actionsPerHour": 1300,
    "experience": {"smithing": 17.5},
    "members": False,
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    """``SMELT_STEEL`` with the value at a dotted path (``inputs.1.quantity``) replaced, or removed for ``...``."""
    body = copy.deepcopy(SMELT_STEEL)
    *parents, last = path.split(".")
    target: Any = body
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    key: Any = int(last) if isinstance(target, list) else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return body


#: (what is wrong, body, the field named, words of the problem)
BAD_ACTIONS: list[tuple[str, dict[str, Any], str, str]] = [
    ("missing name", with_change("name", ...), "name", "is required"),
    ("lower-case name", with_change("name", "smelt_steel"), "name", "UPPER_SNAKE_CASE"),
    ("name with spaces", with_change("name", "SMELT STEEL"), "name", "UPPER_SNAKE_CASE"),
    ("name not a string", with_change("name", 7), "name", "non-empty string"),
    ("empty type", with_change("type", ""), "type", "non-empty string"),
    ("params not an object", with_change("params", [1]), "params", "JSON object"),
    ("inputs not a list", with_change("inputs", {"itemId": COAL}), "inputs", "JSON array"),
    ("negative quantity", with_change("inputs.1.quantity", -2), "inputs[1].quantity", "must be a positive integer"),
    ("zero quantity", with_change("outputs.0.quantity", 0), "outputs[0].quantity", "must be a positive integer"),
    ("fractional quantity", with_change("inputs.0.quantity", 1.5), "inputs[0].quantity", "positive integer"),
    ("boolean quantity", with_change("inputs.0.quantity", True), "inputs[0].quantity", "positive integer"),
    ("huge quantity", with_change("inputs.0.quantity", 2**31), "inputs[0].quantity", "at most 2147483647"),
    ("missing quantity", with_change("inputs.0.quantity", ...), "inputs[0].quantity", "is required"),
    ("unknown item", with_change("inputs.0.itemId", 999999), "inputs[0].itemId", "999999 is not a known item id"),
    ("item id a string", with_change("outputs.0.itemId", "2353"), "outputs[0].itemId", "non-negative integer"),
    ("item listed twice", with_change("inputs.1.itemId", IRON_ORE), "inputs[1].itemId", "already listed at inputs[0]"),
    ("typo in an amount", with_change("inputs.0.qty", 1), "inputs[0].qty", "not a known field"),
    ("unknown top-level field", with_change("profit", 5), "profit", "not a known field"),
    ("nothing in or out", with_change("outputs", []) | {"inputs": []}, "outputs", "must not be empty"),
    ("unknown skill", with_change("requirements.skills", {"sailing": 5}), "requirements.skills.sailing",
     "not an OSRS skill"),
    ("level 0", with_change("requirements.skills", {"smithing": 0}), "requirements.skills.smithing",
     "positive integer"),
    ("level 100", with_change("requirements.skills", {"smithing": 100}), "requirements.skills.smithing", "at most 99"),
    ("skill twice by case", with_change("requirements.skills", {"smithing": 5, "SMITHING": 6}),
     "requirements.skills.SMITHING", "twice"),
    ("unknown required item", with_change("requirements.items", [12345678]), "requirements.items[0]",
     "not a known item"),
    ("required item twice", with_change("requirements.items", [KNIFE, KNIFE]), "requirements.items[1]", "twice"),
    ("blank quest", with_change("requirements.quests", [" "]), "requirements.quests[0]", "non-empty string"),
    ("unknown requirement kind", with_change("requirements.level", 3), "requirements.level", "not a known field"),
    ("zero actions per hour", with_change("actionsPerHour", 0), "actionsPerHour", "positive integer"),
    ("missing actions per hour", with_change("actionsPerHour", ...), "actionsPerHour", "is required"),
    ("negative xp", with_change("experience", {"smithing": -1}), "experience.smithing", "between 0 and"),
    ("xp as text", with_change("experience", {"smithing": "17.5"}), "experience.smithing", "must be a number"),
    ("xp in an unknown skill", with_change("experience", {"dungeoneering": 5}), "experience.dungeoneering", "skill"),
    ("members as a string", with_change("members", "false"), "members", "true or false"),
    ("missing members", with_change("members", ...), "members", "is required"),
]  # fmt: skip


class ParseActionTests(SynchronousTestCase):
    def test_reads_every_field(self) -> None:
        action = parse_action(SMELT_STEEL, KNOWN)
        self.assertEqual(
            action,
            Action(
                name="SMELT_STEEL_BAR",
                type="SMELT_BAR",
                params={"barName": "Steel bar", "furnace": {"x": 3109, "y": 3499}},
                inputs=(ItemAmount(IRON_ORE, 1), ItemAmount(COAL, 2)),
                outputs=(ItemAmount(STEEL_BAR, 1),),
                requirements=Requirements({"smithing": 30}, frozenset({KNIFE}), frozenset({"Knight's Sword"})),
                actions_per_hour=1300,
                experience={"smithing": 17.5},
                members=False,
            ),
        )
        self.assertEqual(action.xp_per_action, 17.5)

    def test_optional_fields_default_empty(self) -> None:
        body = {key: value for key, value in SMELT_STEEL.items() if key not in ("params", "requirements", "experience")}
        action = parse_action(body, KNOWN)
        self.assertEqual((action.params, action.requirements, action.experience), ({}, Requirements(), {}))
        self.assertEqual(action.xp_per_action, 0)

    def test_coins_are_always_known(self) -> None:
        body = with_change("inputs", [{"itemId": COAL, "quantity": 1}, {"itemId": COINS_ID, "quantity": 20}])
        self.assertEqual(parse_action(body, KNOWN).inputs[1], ItemAmount(COINS_ID, 20))

    def test_item_check_skipped_without_catalog(self) -> None:
        body = with_change("inputs.0.itemId", 999999)
        self.assertEqual(parse_action(body, None).inputs[0].item_id, 999999)

    def test_every_bad_input_is_named(self) -> None:
        for what, body, field, words in BAD_ACTIONS:
            with self.subTest(what):
                with self.assertRaises(FieldError) as caught:
                    parse_action(body, KNOWN)
                self.assertEqual(caught.exception.field, field)
                self.assertIn(words, str(caught.exception))
                self.assertTrue(str(caught.exception).startswith(field + " "))

    def test_not_an_object(self) -> None:
        with self.assertRaises(FieldError) as caught:
            parse_action([SMELT_STEEL], KNOWN)
        self.assertEqual(str(caught.exception), "body must be a JSON object")

    def test_skills_constant(self) -> None:
        self.assertEqual(len(SKILLS), 23)
        self.assertEqual(len(set(SKILLS)), 23)
        self.assertIn("runecraft", SKILLS)


class ParseActionsTests(SynchronousTestCase):
    def test_list_errors_carry_the_index(self) -> None:
        with self.assertRaises(FieldError) as caught:
            parse_actions([SMELT_STEEL, with_change("inputs.1.quantity", -1)], KNOWN)
        self.assertEqual(caught.exception.field, "actions[1].inputs[1].quantity")

    def test_duplicate_names_refused(self) -> None:
        other = with_change("type", "SMELT_OTHER")
        with self.assertRaises(FieldError) as caught:
            parse_actions([SMELT_STEEL, with_change("name", "OTHER"), other], KNOWN)
        self.assertEqual(caught.exception.field, "actions[2].name")
        self.assertIn("SMELT_STEEL_BAR duplicates actions[0]", str(caught.exception))

    def test_document_legend_must_name_every_item(self) -> None:
        legend = {str(COAL): "Coal", str(IRON_ORE): "Iron ore", str(KNIFE): "Knife"}
        with self.assertRaises(FieldError) as caught:
            parse_actions_document({"items": legend, "actions": [SMELT_STEEL]}, KNOWN)
        self.assertEqual(caught.exception.field, "actions[0].outputs[0].itemId")
        legend[str(STEEL_BAR)] = "Steel bar"
        self.assertEqual(len(parse_actions_document({"items": legend, "actions": [SMELT_STEEL]}, KNOWN)), 1)

    def test_document_shape(self) -> None:
        cases: list[tuple[Any, str]] = [
            ([SMELT_STEEL], "body"),
            ({"action": [SMELT_STEEL]}, "action"),
            ({}, "actions"),
            ({"actions": [], "items": {"coal": "Coal"}}, "items.coal"),
            ({"actions": [], "items": {"453": ""}}, "items.453"),
            ({"actions": {}}, "actions"),
        ]
        for doc, field in cases:
            with self.subTest(field):
                with self.assertRaises(FieldError) as caught:
                    parse_actions_document(doc, KNOWN)
                self.assertEqual(caught.exception.field, field)

    def test_file_with_bad_json(self) -> None:
        path = Path(self.mktemp())
        path.write_text("{not json", encoding="utf-8")
        with self.assertRaises(FieldError) as caught:
            load_actions_file(path, KNOWN)
        self.assertIn("not valid JSON", str(caught.exception))

    def test_file_round_trip(self) -> None:
        path = Path(self.mktemp())
        path.write_text(json.dumps({"actions": [SMELT_STEEL]}), encoding="utf-8")
        self.assertEqual(load_actions_file(path, KNOWN), (parse_action(SMELT_STEEL, KNOWN),))


class RecordTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        action = parse_action(SMELT_STEEL, KNOWN)
        text = to_record(action)
        self.assertEqual(from_record(text), action)
        self.assertEqual(json.loads(text)["requirements"]["skills"], {"smithing": 30})

    def test_record_is_canonical(self) -> None:
        reordered = dict(reversed(list(SMELT_STEEL.items())))
        self.assertEqual(to_record(parse_action(reordered, KNOWN)), to_record(parse_action(SMELT_STEEL, KNOWN)))


#: Every item id the starter set may use, with its in-game name.
STARTER_ITEMS = {
    66: "Yew longbow (u)", 99: "Ranarr potion (unf)", 139: "Prayer potion(3)", 207: "Grimy ranarr weed",
    227: "Vial of water", 257: "Ranarr weed", 440: "Iron ore", 447: "Mithril ore", 453: "Coal",
    561: "Nature rune", 855: "Yew longbow", 946: "Knife", 1387: "Staff of fire", 1515: "Yew logs",
    1739: "Cowhide", 1741: "Leather", 1745: "Green dragon leather", 1751: "Blue dragonhide",
    1753: "Green dragonhide", 1777: "Bow string", 2353: "Steel bar", 2359: "Mithril bar",
    2434: "Prayer potion(4)", 2505: "Blue dragon leather", 2998: "Toadflax", 3002: "Toadflax potion (unf)",
    3049: "Grimy toadflax",
}  # fmt: skip


class StarterActionsTests(SynchronousTestCase):
    def test_loads_and_validates_against_its_items(self) -> None:
        actions = load_starter_actions(frozenset(STARTER_ITEMS))
        self.assertGreaterEqual(len(actions), 12)
        self.assertEqual(len({action.name for action in actions}), len(actions))
        types = {action.type for action in actions}
        for kind in ("TAN_LEATHER", "CLEAN_HERB", "MAKE_UNFINISHED_POTION", "SMELT_BAR", "FLETCH_BOW",
                     "STRING_BOW", "HIGH_ALCH", "DECANT_POTION"):  # fmt: skip
            self.assertIn(kind, types)

    def test_legend_names_match(self) -> None:
        from importlib import resources

        text = resources.files("osrs_twisted.market").joinpath("starter_actions.json").read_text(encoding="utf-8")
        legend = {int(key): name for key, name in json.loads(text)["items"].items()}
        self.assertEqual(legend, STARTER_ITEMS)

    def test_known_recipes(self) -> None:
        actions = {action.name: action for action in load_starter_actions()}
        steel = actions["SMELT_STEEL_BAR"]
        self.assertEqual(steel.inputs, (ItemAmount(440, 1), ItemAmount(453, 2)))
        self.assertEqual(steel.outputs, (ItemAmount(2353, 1),))
        unf = actions["MAKE_RANARR_POTION_UNF"]
        self.assertEqual((unf.inputs, unf.outputs), ((ItemAmount(257, 1), ItemAmount(227, 1)), (ItemAmount(99, 1),)))
        alch = actions["HIGH_ALCH_YEW_LONGBOW"]
        self.assertEqual(alch.outputs, (ItemAmount(COINS_ID, 768),))
        self.assertIn(ItemAmount(561, 1), alch.inputs)
        self.assertEqual(actions["TAN_GREEN_DRAGONHIDE"].params["rawHideName"], "Green dragonhide")

    def test_records_round_trip(self) -> None:
        for action in load_starter_actions():
            self.assertEqual(from_record(to_record(action)), action)
