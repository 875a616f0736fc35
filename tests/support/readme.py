"""The README's own shell blocks, for the tests that run them verbatim."""

from __future__ import annotations

import re

from include.campaigns.infra.paths import PROJECT_ROOT


def readme_block(heading: str) -> str:
    """The first ```bash block after ``heading`` in README.md."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    at = readme.index(heading)
    match = re.compile(r"```bash\n(.*?)```", re.S).search(readme, at)
    assert match, f"no bash block after {heading!r} in README.md"
    return match.group(1)
