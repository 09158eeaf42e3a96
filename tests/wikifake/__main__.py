"""Run the fake Wiki prices API on loopback: ``python -m tests.wikifake``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.task import react
from twisted.logger import Logger, globalLogBeginner, textFileLogObserver
from twisted.python import usage
from twisted.web.server import Site

from tests.wikifake.app import WikiFake
from tests.wikifake.captures import Captures

log = Logger()


class Options(usage.Options):
    """Command line of the fake."""

    optParameters = [
        ["captures", "c", None, "directory of captured payloads (mapping.json, latest.json, ...)"],
        ["port", "p", "8089", "TCP port on 127.0.0.1", int],
    ]

    def postOptions(self) -> None:
        if self["captures"] is None:
            raise usage.UsageError("--captures DIR is required")


async def serve(reactor: Any, options: Options) -> None:
    """Listen on 127.0.0.1 only (it is a test double) and run until killed."""
    fake = WikiFake(Captures.load(Path(options["captures"])), reactor)
    endpoint = TCP4ServerEndpoint(reactor, options["port"], interface="127.0.0.1")
    port = await endpoint.listen(Site(fake.resource()))
    log.info(
        "fake Wiki prices API on http://127.0.0.1:{port} serving {captures}",
        port=port.getHost().port,
        captures=options["captures"],
    )
    await Deferred()


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point: log to stdout, report bad options in one line."""
    options = Options()
    try:
        options.parseOptions(list(sys.argv[1:] if argv is None else argv))
    except usage.UsageError as e:
        sys.stderr.write(f"{e}\n{options}")
        raise SystemExit(2) from None
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    react(lambda reactor: Deferred.fromCoroutine(serve(reactor, options)))


if __name__ == "__main__":
    main()
