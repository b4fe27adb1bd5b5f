"""The ``realtalk`` command line."""

from realtalk.cli._main import build_parser, main, run

__all__ = ["build_parser", "main", "run"]
