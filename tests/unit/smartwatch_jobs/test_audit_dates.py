"""The range `smartwatch audit` checks, from its options (hand-written cases)."""

from __future__ import annotations

import datetime as dt

import pytest

from smartwatch_jobs.commands import audit_dates, parser

pytestmark = pytest.mark.unit

TODAY = dt.date(2026, 12, 7)


@pytest.mark.parametrize(("argv", "want"), [
    (["--from", "2026-03-01", "--to", "2026-03-31"], (dt.date(2026, 3, 1), dt.date(2026, 3, 31))),
    (["--from", "2026-03-01", "--to", "2026-03-01"], (dt.date(2026, 3, 1), dt.date(2026, 3, 1))),
    (["--last-days", "35"], (dt.date(2026, 11, 2), dt.date(2026, 12, 6))),
    (["--last-days", "1"], (dt.date(2026, 12, 6), dt.date(2026, 12, 6))),
    (["--from", "2026-03-02", "--to", "2026-03-01"], "--from 2026-03-02 is after --to 2026-03-01"),
    (["--from", "2026-03-02"], "give --from and --to, or --last-days"),
    ([], "give --from and --to, or --last-days"),
    (["--last-days", "0"], "--last-days must be at least 1 (got 0)"),
    (["--last-days", "3", "--to", "2026-03-01"], "give --last-days, or --from and --to, not both"),
])
def test_the_range(argv: list[str], want) -> None:
    assert audit_dates(parser().parse_args(["audit", *argv]), TODAY) == want
