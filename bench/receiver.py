"""Receiver throughput benchmark (filled in below)."""

from __future__ import annotations

from typing import Any


def bench_receiver(quick: bool = False) -> list[Any]:
    return []
