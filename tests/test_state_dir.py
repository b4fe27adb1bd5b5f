"""Where the app-server stores threads: flag > REALTALK_STATE_DIR > config > XDG default."""

from __future__ import annotations

import argparse
from pathlib import Path

from realtalk._config import default_state_dir, load_settings
from realtalk.app_server import add_app_server_arguments


def test_state_dir_precedence(tmp_path: Path) -> None:
    home = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    assert default_state_dir(home) == Path.home() / ".local" / "state" / "realtalk"
    xdg = {**home, "XDG_STATE_HOME": str(tmp_path / "xdg")}
    assert load_settings(environ=xdg).state_dir == str(tmp_path / "xdg" / "realtalk")
    config = tmp_path / "c.toml"
    config.write_text(f'state_dir = "{tmp_path / "from-file"}"\n')
    assert load_settings(config, environ=xdg).state_dir == str(tmp_path / "from-file")
    env = {**xdg, "REALTALK_STATE_DIR": str(tmp_path / "from-env")}
    assert load_settings(config, environ=env).state_dir == str(tmp_path / "from-env")
    tilde = tmp_path / "t.toml"
    tilde.write_text('state_dir = "~/threads"\n')
    assert load_settings(tilde, environ=xdg).state_dir == str(Path.home() / "threads")


def test_app_server_flags() -> None:
    parser = argparse.ArgumentParser()
    add_app_server_arguments(parser)
    args = parser.parse_args(["--state-dir", "/tmp/x"])
    assert (args.state_dir, args.ephemeral) == ("/tmp/x", False)
    assert parser.parse_args(["--ephemeral"]).ephemeral
