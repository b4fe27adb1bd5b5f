"""The README's "Use the emulator in your own tests" example works as written.

The example is cut out of README.md and run by a separate pytest in an empty project
directory (no realtalk pytest config), as a user would run it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Use the emulator in your own tests"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    section = section[: section.find("\n## ", len(SECTION))]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the section has no python example"
    return match.group(1)


def test_the_readme_example_passes(tmp_path: Path) -> None:
    config = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"  # as the README says
    (tmp_path / "pytest.ini").write_text(config, encoding="utf-8")
    (tmp_path / "test_example.py").write_text(readme_example(), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout and "warning" not in result.stdout.lower()


def test_the_example_is_found_and_is_a_real_test() -> None:
    example = readme_example()
    assert "async def test_weather_report" in example and "Emulator(" in example
