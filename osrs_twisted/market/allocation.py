"""The allocator: which action each bot should do next, so the fleet earns most without tripping over itself.

Each asking bot gets, in order of precedence: an operator's pin; its current
assignment while that is live and still eligible (bots do not churn between
methods every time they ask); otherwise the action with the highest profit
per hour that it is eligible for; otherwise ``IDLE`` with the reason.

Eligible means: priced and profitable, members status and requirements met,
buy limit left on the bot's account for one action's inputs, and not
saturated. Saturation keeps the bots on one action, together, within a share
(default 10%) of what the market trades of its items in 24 h, so the fleet
spreads over methods instead of all crowding the best one and moving its
prices. The allocator is a pure function of its inputs: same state, same
answers, whatever order the inputs come in (bots are decided in instance-id
order, ties between actions broken by name).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Callable, Iterable, Literal, Mapping, Optional, Sequence, TypeVar

import attrs

from osrs_twisted.market.actions import COINS_ID, SKILLS, Action
from osrs_twisted.market.economics import ActionEconomics

IDLE_TASK = "IDLE"
"""The task a bot is given when no action suits it."""

HOURS_PER_DAY = 24
WINDOWS_PER_DAY = 6
"""Buy-limit windows (4 h) in the 24 h the market volume covers."""

Source = Literal["pin", "allocator", "idle"]

V = TypeVar("V")

#: Why an action is not eligible for a bot, in the order they are checked.
REJECTIONS: tuple[str, ...] = (
    "unpriced",
    "unprofitable",
    "members",
    "requirements",
    "buy limit",
    "volume unknown",
    "saturated",
)


def _fraction(value: Fraction | float | int | str) -> Fraction:
    """An exact share: ``0.1`` means one tenth, not the float nearest it."""
    return Fraction(str(value)) if isinstance(value, float) else Fraction(value)


def _check_share(_instance: Any, _attribute: Any, value: Fraction) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"fleet share must be in (0, 1], not {value}")


@attrs.frozen
class AllocatorConfig:
    """The allocator's settings."""

    #: The most of an action's 24 h market volume the fleet may take on it.
    fleet_share: Fraction = attrs.field(default=Fraction(1, 10), converter=_fraction, validator=_check_share)
    #: Seconds an assignment lasts before the bot is reconsidered.
    ttl: int = 900
    #: Seconds an ``IDLE`` answer lasts (short, so idle bots ask again soon).
    idle_ttl: int = 60
    #: Actions earning less per hour are not handed out.
    min_profit_per_hour: int = 1


@attrs.frozen
class BotProfile:
    """What the allocator knows of one bot, from its latest heartbeat."""

    instance_id: str
    account: str
    #: Skill → level; a skill not reported counts as level 1.
    skills: Mapping[str, int] = attrs.field(factory=dict)
    quests: frozenset[str] = frozenset()
    items: frozenset[int] = frozenset()
    members: bool = False


def profile_from_heartbeat(instance_id: str, heartbeat: Mapping[str, Any]) -> BotProfile:
    """What a bot's latest heartbeat says about it, read leniently.

    Heartbeats keep whatever a bot sends, so a field of the wrong shape is
    ignored rather than refused: ``account`` (string; the instance id when
    absent), ``skills`` (object skill → level, case-insensitive, unknown
    skills dropped), ``quests`` (array of completed quest names), ``items``
    (array of owned item ids) and ``members`` (boolean).
    """
    account = heartbeat.get("account")
    skills = heartbeat.get("skills")
    levels = {
        name.lower(): level
        for name, level in (skills.items() if isinstance(skills, dict) else ())
        if isinstance(name, str) and name.lower() in SKILLS and type(level) is int
    }
    quests = heartbeat.get("quests")
    items = heartbeat.get("items")
    return BotProfile(
        instance_id=instance_id,
        account=account if isinstance(account, str) and account else instance_id,
        skills=levels,
        quests=frozenset(q for q in quests if isinstance(q, str)) if isinstance(quests, list) else frozenset(),
        items=frozenset(i for i in items if type(i) is int) if isinstance(items, list) else frozenset(),
        members=heartbeat.get("members") is True,
    )


@attrs.frozen
class PricedAction:
    """An action with its figures at the current prices."""

    action: Action
    economics: ActionEconomics


@attrs.frozen
class Pin:
    """An operator's order for one bot; it wins over the allocator until it expires."""

    instance_id: str
    task: str
    params: Mapping[str, Any] = attrs.field(factory=dict)
    #: ``None``: until the operator removes it.
    expires_at: Optional[int] = None

    def live(self, now: int) -> bool:
        return self.expires_at is None or now < self.expires_at


@attrs.frozen
class Assignment:
    """What one bot was told to do, and until when."""

    instance_id: str
    task: str
    params: Mapping[str, Any]
    source: Source
    assigned_at: int
    #: When the bot should ask again.
    expires_at: int
    #: Why the bot is idle (``IDLE`` answers only).
    reason: Optional[str] = None
    #: Actions the account's buy limits left allow now; ``None`` when nothing limits it.
    quota: Optional[int] = None

    def live(self, now: int) -> bool:
        return now < self.expires_at


@attrs.frozen
class _Rejection:
    kind: str
    detail: str


def per_bot_daily_actions(priced: PricedAction) -> int:
    """Actions one bot does in 24 h: its hourly rate, capped by its account's buy limits."""
    daily = priced.action.actions_per_hour * HOURS_PER_DAY
    if priced.economics.actions_per_4h is not None:
        daily = min(daily, priced.economics.actions_per_4h * WINDOWS_PER_DAY)
    return daily


def fleet_capacity(priced: PricedAction, config: AllocatorConfig) -> tuple[Optional[int], Optional[str]]:
    """The most bots the action takes within the fleet share: ``(bots, None)``, ``(None, None)``
    when no item of it is traded (unbounded), ``(None, reason)`` when the volume is unknown."""
    fleet = priced.economics.fleet_actions_per_24h
    if fleet is None:
        return None, priced.economics.volume_reason
    per_bot = per_bot_daily_actions(priced)
    if per_bot == 0:
        return 0, None
    share = config.fleet_share
    return (share.numerator * fleet) // (share.denominator * per_bot), None


def allocate(
    asking: Iterable[BotProfile],
    actions: Iterable[PricedAction],
    limits_left: Mapping[str, Mapping[int, Optional[int]]],
    assignments: Iterable[Assignment],
    pins: Iterable[Pin],
    now: int,
    config: AllocatorConfig,
) -> dict[str, Assignment]:
    """An assignment for each asking bot, by instance id.

    ``limits_left`` maps account → item id → buy limit left (``None``:
    unknown limit); an item not listed has not been bought in an open window,
    so its whole limit is left. ``assignments`` are the recorded ones of the
    whole fleet (any bot, live or expired) and ``pins`` the operators'; live
    ones count towards each action's load.
    """
    bots = _unique(asking, lambda bot: bot.instance_id, "asking bot")
    current = _unique(assignments, lambda assignment: assignment.instance_id, "assignment")
    live_pins = {
        instance_id: pin
        for instance_id, pin in _unique(pins, lambda pin: pin.instance_id, "pin").items()
        if pin.live(now)
    }
    fleet = _Fleet(_unique(actions, lambda priced: priced.action.name, "action"), config, now)
    for instance_id in sorted(current):
        assignment = current[instance_id]
        if assignment.live(now) and assignment.source == "allocator" and instance_id not in live_pins:
            fleet.take(instance_id, assignment.task)
    for instance_id in sorted(live_pins):
        fleet.take(instance_id, live_pins[instance_id].task)
    decisions: dict[str, Assignment] = {}
    for instance_id in sorted(bots):
        fleet.release(instance_id)
        decision = fleet.decide(
            bots[instance_id], live_pins.get(instance_id), current.get(instance_id), limits_left
        )
        if decision.source != "idle":
            fleet.take(instance_id, decision.task)
        decisions[instance_id] = decision
    return decisions


class _Fleet:
    """One ``allocate`` call's working state: which bot holds which action, and each action's load."""

    def __init__(self, candidates: Mapping[str, PricedAction], config: AllocatorConfig, now: int) -> None:
        self.candidates = candidates
        self.config = config
        self.now = now
        self.ranked = sorted(candidates.values(), key=_rank_key)
        self.capacities = {name: fleet_capacity(priced, config) for name, priced in candidates.items()}
        self.load = {name: 0 for name in candidates}
        self.holder: dict[str, str] = {}

    def take(self, instance_id: str, task: str) -> None:
        """Count ``instance_id`` on ``task`` (tasks that are not actions carry no load)."""
        if task in self.candidates:
            self.holder[instance_id] = task
            self.load[task] += 1

    def release(self, instance_id: str) -> None:
        task = self.holder.pop(instance_id, None)
        if task is not None:
            self.load[task] -= 1

    def decide(
        self,
        bot: BotProfile,
        pin: Optional[Pin],
        previous: Optional[Assignment],
        limits_left: Mapping[str, Mapping[int, Optional[int]]],
    ) -> Assignment:
        now, config = self.now, self.config
        if pin is not None:
            expires_at = now + config.ttl if pin.expires_at is None else min(now + config.ttl, pin.expires_at)
            return Assignment(bot.instance_id, pin.task, pin.params, "pin", now, expires_at)
        account_left = limits_left.get(bot.account, {})
        if (
            previous is not None
            and previous.live(now)
            and previous.source == "allocator"
            and previous.task in self.candidates
            and self.rejection(bot, self.candidates[previous.task], account_left) is None
        ):
            return attrs.evolve(previous, quota=_quota(self.candidates[previous.task], account_left))
        rejections: list[tuple[PricedAction, _Rejection]] = []
        for priced in self.ranked:
            rejected = self.rejection(bot, priced, account_left)
            if rejected is None:
                action = priced.action
                return Assignment(
                    bot.instance_id, action.name, action.params, "allocator", now, now + config.ttl,
                    quota=_quota(priced, account_left),
                )  # fmt: skip
            rejections.append((priced, rejected))
        return Assignment(
            bot.instance_id, IDLE_TASK, {}, "idle", now, now + config.idle_ttl, reason=_idle_reason(rejections)
        )

    def rejection(
        self, bot: BotProfile, priced: PricedAction, account_left: Mapping[int, Optional[int]]
    ) -> Optional[_Rejection]:
        """Why ``bot`` may not take ``priced`` now, or ``None`` when it may."""
        action, economics = priced.action, priced.economics
        if economics.profit_per_hour is None:
            return _Rejection("unpriced", economics.price_reason or "no price")
        if economics.profit_per_hour < self.config.min_profit_per_hour:
            return _Rejection("unprofitable", f"earns {economics.profit_per_hour} gp/h")
        if action.members and not bot.members:
            return _Rejection("members", "is members only")
        unmet = action.requirements.unmet(bot.skills, bot.quests, bot.items)
        if unmet is not None:
            return _Rejection("requirements", unmet)
        quota = _quota(priced, account_left)
        if quota is not None and quota < 1:
            return _Rejection("buy limit", "has no buy limit left for its inputs")
        bots, unknown = self.capacities[action.name]
        if unknown is not None:
            return _Rejection("volume unknown", unknown)
        if bots is not None and self.load[action.name] >= bots:
            return _Rejection("saturated", f"has {self.load[action.name]} of {bots} bots")
        return None


def _rank_key(priced: PricedAction) -> tuple[int, int, str]:
    """Best first: priced before unpriced, then profit per hour, then name."""
    per_hour = priced.economics.profit_per_hour
    return (per_hour is None, -(per_hour or 0), priced.action.name)


def _quota(priced: PricedAction, account_left: Mapping[int, Optional[int]]) -> Optional[int]:
    """Actions the account can buy inputs for now; ``None`` when no known limit bounds it."""
    bounds: list[int] = []
    if priced.economics.actions_per_4h is not None:
        bounds.append(priced.economics.actions_per_4h)
    for amount in priced.action.inputs:
        left = account_left.get(amount.item_id)
        if amount.item_id != COINS_ID and left is not None:
            bounds.append(left // amount.quantity)
    return min(bounds) if bounds else None


def _idle_reason(rejections: Sequence[tuple[PricedAction, _Rejection]]) -> str:
    if not rejections:
        return "no actions are defined"
    counts = {kind: 0 for kind in REJECTIONS}
    for _priced, rejected in rejections:
        counts[rejected.kind] += 1
    summary = ", ".join(f"{count} {kind}" for kind, count in counts.items() if count)
    best, why = rejections[0]
    return f"no eligible action ({summary}); best: {best.action.name} {why.detail}"


def _unique(values: Iterable[V], key: Callable[[V], str], what: str) -> dict[str, V]:
    """Index ``values`` by ``key``; the same key twice is a caller's mistake."""
    indexed: dict[str, V] = {}
    for value in values:
        name = key(value)
        if name in indexed:
            raise ValueError(f"{what} {name!r} is given twice")
        indexed[name] = value
    return indexed
