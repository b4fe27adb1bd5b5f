"""The base of every app-server API struct: camelCase on the wire, keyword-only, frozen."""

from __future__ import annotations

import msgspec

__all__ = ["Camel"]


class Camel(msgspec.Struct, rename="camel", kw_only=True, frozen=True):
    """Fields are snake_case in Python and camelCase on the wire."""
