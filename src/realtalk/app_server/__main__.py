"""``python -m realtalk.app_server``: the same as ``realtalk app-server``."""

from __future__ import annotations

import argparse
import logging
import sys

from realtalk._errors import RealtalkError
from realtalk._loop import run as run_loop
from realtalk.app_server import add_app_server_arguments, run_app_server_from_args


def main() -> int:
    parser = argparse.ArgumentParser(prog="realtalk app-server")
    add_app_server_arguments(parser)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return run_loop(run_app_server_from_args(args))
    except KeyboardInterrupt:
        return 130
    except RealtalkError as exc:
        print(f"realtalk: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
