"""``/tasks``: the background jobs, their runs, and manual runs (docs/http-api.md).

Starting a run is an admin action: with ``--admin-token`` it needs
``Authorization: Bearer <token>``; without one only loopback clients may
start runs, so a server exposed by mistake cannot be made to hammer the Wiki.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Optional

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.web.iweb import IRequest

from osrs_twisted.http.errors import ApiError, bad_request, not_found
from osrs_twisted.http.query import parse_int, query_limit, query_str
from osrs_twisted.http.render import optional_run_json, run_json
from osrs_twisted.http.routing import json_response, route
from osrs_twisted.http.state import ApiState
from osrs_twisted.jobs.scheduler import JobScheduler, SchedulerStopped, UnknownJob
from osrs_twisted.records import RUN_STATES, RunState, narrow
from osrs_twisted.store.interface import RunInProgress

DEFAULT_RUNS_LIMIT = 50


def is_loopback(address: object) -> bool:
    """127.0.0.0/8, ::1 (also IPv4-mapped), or a UNIX socket (local by nature)."""
    if isinstance(address, UNIXAddress):
        return True
    if not isinstance(address, (IPv4Address, IPv6Address)):
        return False
    try:
        ip = ipaddress.ip_address(address.host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def require_admin(request: IRequest, token: Optional[str]) -> None:
    """Raise 401 (wrong or missing bearer token) or 403 (no token configured
    and a non-loopback client) unless the request may use admin routes."""
    if token:
        scheme, _, given = (request.getHeader("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode("utf-8"), token.encode("utf-8")
        ):
            raise ApiError(
                401,
                "the Authorization header must carry the admin bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
    elif not is_loopback(request.getClientAddress()):
        raise ApiError(403, "admin routes accept only loopback clients while no --admin-token is set")


def _state(request: IRequest) -> Optional[RunState]:
    text = query_str(request, "state")
    if text is None:
        return None
    state = narrow(RUN_STATES, text)
    if state is not None:
        return state
    raise bad_request(f"state must be one of {', '.join(RUN_STATES)}, got {text!r}")


class TaskRoutes(ApiState):
    """The ``/tasks`` routes, over ``self.jobs`` (None with ``--no-jobs``);
    the runs it records are read through it."""

    jobs: Optional[JobScheduler]

    def require_jobs(self) -> JobScheduler:
        if self.jobs is None:
            raise ApiError(503, "background jobs are off in this process (--no-jobs)")
        return self.jobs

    @route("/tasks", methods=["GET"])
    async def tasks_list(self, request: IRequest) -> bytes:
        scheduler = self.require_jobs()
        last = await scheduler.last_runs()
        jobs = [
            {
                "name": job.name,
                "intervalSeconds": job.interval,
                "enabled": job.enabled,
                "lastRun": optional_run_json(last.get(job.name)),
                "nextRunAt": scheduler.next_run_at(job.name),
            }
            for job in scheduler.jobs.values()
        ]
        return json_response(request, {"jobs": jobs})

    @route("/tasks/runs", methods=["GET"])
    async def tasks_runs(self, request: IRequest) -> bytes:
        scheduler = self.require_jobs()
        state = _state(request)
        limit = query_limit(request, DEFAULT_RUNS_LIMIT, self.settings.max_limit)
        runs = await scheduler.list_runs(query_str(request, "job"), state, limit)
        return json_response(request, {"runs": [run_json(run) for run in runs]})

    @route("/tasks/runs/<run_id>", methods=["GET"])
    async def tasks_run(self, request: IRequest, run_id: str) -> bytes:
        run = await self.require_jobs().get_run(parse_int(run_id, "runId", 1))
        if run is None:
            raise not_found(f"no run with id {run_id}")
        return json_response(request, run_json(run))

    @route("/tasks/<job>/run", methods=["POST"])
    async def tasks_trigger(self, request: IRequest, job: str) -> bytes:
        require_admin(request, self.settings.admin_token)
        scheduler = self.require_jobs()
        try:
            run = await scheduler.trigger(job)
        except SchedulerStopped as e:
            raise ApiError(503, str(e)) from None
        except UnknownJob:
            raise not_found(f"no job named {job!r}; jobs: {', '.join(scheduler.jobs)}") from None
        except RunInProgress as e:
            raise ApiError(
                409, f"job {job} already has run {e.run_id} in progress", extra={"id": e.run_id}
            ) from None
        return json_response(request, run_json(run), 202)
