"""Generated docs match the code."""

import pytest

from smartwatch.eventdocs import markdown_docs
from smartwatch_dev.toolchain import REPO_ROOT

pytestmark = pytest.mark.unit


def test_events_doc_is_current() -> None:
    assert (REPO_ROOT / "docs" / "events.md").read_text() == markdown_docs(), (
        "docs/events.md is stale: run `smartwatch events docs > docs/events.md`")
