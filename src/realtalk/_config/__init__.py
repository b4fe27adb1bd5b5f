"""Configuration: a TOML file plus environment variables, resolved into ``Settings``.

Precedence (highest first): command-line flags (applied by the CLI), ``REALTALK_*``
environment variables, the config file, built-in defaults. The API key comes only
from the environment (``OPENAI_API_KEY``), never from a file we might print.

The agent's safety settings live under ``[agent]``: ``sandbox`` (``read-only``,
``workspace-write``, ``danger-full-access``), ``approval`` (``never``,
``on-request``, ``untrusted``) and ``env_allow`` (names or ``*`` patterns of
secret-looking variables commands may still see). Path rules need the table
form ``[agent.sandbox]`` with ``mode``, ``writable``, ``read_only``, ``deny`` and
``network`` (TOML cannot hold ``sandbox = "..."`` and that table at once).

File location: ``--config PATH``, else ``$XDG_CONFIG_HOME/realtalk/config.toml``
(``~/.config/realtalk/config.toml``). A missing default file is fine; a missing
explicit file, bad TOML, an unknown key or a wrong type is a :class:`ConfigError`
naming the file, the key and the expected type.

The package: ``_settings.py`` (``Settings``, the defaults), ``_file.py`` (the file's
place and schema), ``_values.py`` (checked values: ranges, URLs, the environment's
text) and ``_load.py`` (``load_settings``, which resolves them in that order).
"""

from realtalk._config._file import default_config_path, default_state_dir
from realtalk._config._load import load_settings
from realtalk._config._settings import (
    DEFAULT_AGENT_MODEL,
    DEFAULT_API_BASE_URL,
    DEFAULT_REALTIME_MODEL,
    Settings,
    Transport,
)
from realtalk._config._values import check_base_url

__all__ = [
    "DEFAULT_AGENT_MODEL",
    "DEFAULT_API_BASE_URL",
    "DEFAULT_REALTIME_MODEL",
    "Settings",
    "Transport",
    "check_base_url",
    "default_config_path",
    "default_state_dir",
    "load_settings",
]
