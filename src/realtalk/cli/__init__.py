"""The ``realtalk`` command line."""

from realtalk.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
