"""``python -m realtalk``."""

from realtalk.cli import run

run()
