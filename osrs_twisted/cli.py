"""The ``osrs`` command, as the seed server named its commands.

``osrs serve`` (HTTP, TCP inference and jobs; ``--http-only`` or
``--tcp-only`` narrow it) and ``osrs worker`` (jobs only, ``--jobs-only``)
take the options and environment of ``twistd osrs`` and run that same
plugin on Twisted's own runner, ``twist``: this module only translates the
command line. Options of ``twist`` itself (``--log-format=json``,
``--reactor``, ``--log-level``, ``--log-file``) go before the command.
"""

from __future__ import annotations

import sys
from typing import Mapping, Optional, Sequence

from twisted.application.twist._twist import Twist
from twisted.python.usage import UsageError

#: Command → the plugin options it stands for.
COMMANDS: Mapping[str, tuple[str, ...]] = {
    "serve": (),
    "worker": ("--jobs-only",),
}

#: ``twist``'s own options that take a value in the next argument.
_TWIST_PARAMETERS = frozenset(("--reactor", "--log-file", "--log-level", "--log-format", "-r", "-l"))

USAGE = """\
Usage: osrs [twist options] COMMAND [options]

Commands:
  serve    HTTP API, TCP inference and background jobs (--http-only, --tcp-only narrow it)
  worker   background jobs only, with /health, /health/ready and /metrics over HTTP (= --jobs-only)

Every command takes the options and environment of `twistd osrs`;
`osrs serve --help` lists them. Twist options before the command:
--log-format=json, --log-level=LEVEL, --log-file=PATH, --reactor=NAME.
"""


def split_arguments(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """``osrs`` arguments → (``twist``'s own options, the plugin's options).
    Raises UsageError for a missing or unknown command."""
    twist_options: list[str] = []
    rest = list(args)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        twist_options.append(option)
        if option in _TWIST_PARAMETERS and rest:
            twist_options.append(rest.pop(0))
    if not rest:
        raise UsageError("no command given")
    command, *options = rest
    if command not in COMMANDS:
        raise UsageError(f"unknown command {command!r}; expected one of {', '.join(COMMANDS)}")
    return twist_options, [*COMMANDS[command], *options]


def twist_arguments(args: Sequence[str]) -> list[str]:
    """The ``argv`` of ``twist`` that runs what ``osrs args`` asks for."""
    twist_options, plugin_options = split_arguments(args)
    return ["twist", *twist_options, "osrs", *plugin_options]


def main(argv: Optional[Sequence[str]] = None) -> None:
    """The console script: ``osrs [twist options] COMMAND [options]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        raise SystemExit(0 if args else 2)
    try:
        twist_argv = twist_arguments(args)
    except UsageError as e:
        sys.stderr.write(f"osrs: {e}\n\n{USAGE}")
        raise SystemExit(2) from None
    Twist.main(twist_argv)


if __name__ == "__main__":
    main()
