"""Names of the worker's own topics (a light module: ``smsflow run`` reads them for lag)."""

from __future__ import annotations

from smsflow.config import Settings

__all__ = ["internal_topics", "worker_topics"]


def internal_topics(settings: Settings) -> dict[str, str]:
    """Names of the worker's own topics (created before the worker starts).

    The side tables' changelogs are created up front too: a topic Faust creates itself at
    start is missing from the first assignment's metadata and breaks the table.
    """
    p = settings.topic_prefix
    return {
        "control": f"{p}streams-control",
        "pairs": f"{p}streams-reply-pairs",
        "pairs_changelog": f"{p}streams-pairs-changelog",
        "clicks_changelog": f"{p}streams-clicks-changelog",
    }


def worker_topics(settings: Settings) -> list[str]:
    """Every topic the worker's consumer group commits: the inputs, control and pairs."""
    names = internal_topics(settings)
    return [*settings.topics.inputs(), names["control"], names["pairs"]]
