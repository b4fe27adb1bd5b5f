"""Tests for realtalk.tls (a package so helper modules and conftest names stay unique)."""
