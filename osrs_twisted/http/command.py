"""``GET /task/``: what each bot should do next; and the operators' pins.

A bot names itself with ``?instanceId=`` or the ``X-Instance-Id`` header
(the query parameter wins when both are given). An operator's pin
(``PUT /bots/{id}/task``, admin rule) wins; otherwise the allocator picks
from the catalog's actions and the fleet's assignments, all held in memory.
An answer is recorded only when it changes, so a bot asking again while its
assignment is live costs no write.
"""

from __future__ import annotations

import attrs
from twisted.web.iweb import IRequest

from osrs_twisted.http.errors import InvalidParameter, not_found
from osrs_twisted.http.fleet import FleetState, field_error, json_body
from osrs_twisted.http.query import query_str
from osrs_twisted.http.render import pin_json
from osrs_twisted.http.routing import json_response, route
from osrs_twisted.http.seed import seed_errors, seed_task
from osrs_twisted.http.tasks import require_admin
from osrs_twisted.market.allocation import Assignment, keep_unchanged, parse_pin
from osrs_twisted.market.validation import MAX_TEXT, FieldError, expect_text

INSTANCE_HEADER = b"x-instance-id"


def asking_instance(request: IRequest) -> str:
    """The asking bot's instance id: ``?instanceId=``, else the ``X-Instance-Id`` header."""
    instance_id = query_str(request, "instanceId")
    if instance_id is None:
        header = request.getHeader(INSTANCE_HEADER)
        instance_id = None if header is None else header.decode("utf-8", "replace")
    if instance_id is None or not instance_id.strip():
        raise InvalidParameter("query parameter instanceId (or header X-Instance-Id) is required")
    if len(instance_id) > MAX_TEXT:
        raise InvalidParameter(f"instanceId must be at most {MAX_TEXT} characters")
    return instance_id


def path_instance(instance_id: str) -> str:
    try:
        return expect_text(instance_id, "instanceId")
    except FieldError as e:
        raise field_error(e) from None


class CommandRoutes(FleetState):
    """Assignments for the asking bots, and the pins that override them."""

    async def assign(self, instance_id: str) -> Assignment:
        """The bot's answer now, recorded when it differs from the recorded one."""
        catalog, snapshot, now = self.require_catalog(), self.snapshot(), self.now()
        bot = await self.known_bot(instance_id)
        left = await self.left_of(bot.profile.account, snapshot, now)
        plan = self.board.plan(snapshot, catalog.actions, catalog.assignments, catalog.pins, now)
        previous = catalog.assignments.get(instance_id)
        answer = keep_unchanged(previous, plan.decide(bot.profile, left, previous), now)
        recorded = attrs.evolve(answer, quota=None)
        if recorded != previous:
            await self.require_store().record_assignment(recorded)
            catalog.assigned(recorded)
        return answer

    def task_type(self, task: str) -> str:
        """What the bot's task builder switches on: the action's type, or a pinned task as it is."""
        stored = self.board.by_name(self.require_catalog().actions).get(task)
        return task if stored is None else stored.action.type

    @route("/task", methods=["GET"])
    @seed_errors
    async def seed_task(self, request: IRequest) -> bytes:
        answer = await self.assign(asking_instance(request))
        return json_response(request, seed_task(answer, self.task_type(answer.task), self.now()))

    @route("/bots/<path:instance_id>/task", methods=["PUT"])
    async def pin_task(self, request: IRequest, instance_id: str) -> bytes:
        require_admin(request, self.settings.admin_token)
        instance_id = path_instance(instance_id)
        body = json_body(request, self.settings.max_body_bytes)
        catalog, now = self.require_catalog(), self.now()
        actions = {name: stored.action for name, stored in self.board.by_name(catalog.actions).items()}
        try:
            pin = parse_pin(body, instance_id, actions, now)
        except FieldError as e:
            raise field_error(e) from None
        await self.require_store().set_pin(pin, now)
        catalog.pinned(instance_id, pin)
        return json_response(request, {"instanceId": instance_id, **pin_json(pin)})

    @route("/bots/<path:instance_id>/task", methods=["DELETE"])
    async def unpin_task(self, request: IRequest, instance_id: str) -> bytes:
        require_admin(request, self.settings.admin_token)
        if not await self.require_store().remove_pin(instance_id):
            raise not_found(f"instance {instance_id!r} has no pin")
        self.require_catalog().pinned(instance_id, None)
        return json_response(request, {"instanceId": instance_id, "removed": True})
