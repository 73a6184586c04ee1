"""Figures the slow tiers measure as they run (times, peak memory): printed in the session's
summary under "measured", so that a run's output carries them with the machine it ran on."""

from __future__ import annotations

FIGURES: dict[str, str] = {}


def record(name: str, value: str) -> None:
    FIGURES[name] = value
    print(f"measured: {name}: {value}")
