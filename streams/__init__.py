"""Stream processing (Faust): join events by umid, message state machine, daily deltas.

Pure parts (no Kafka): :mod:`streams.state` (transitions), :mod:`streams.contribution`
(contributions and delta rows), :mod:`streams.replies` (reply matching). Kafka parts:
:mod:`streams.app` (app factory, commit guard), :mod:`streams.agents`, :mod:`streams.deltas`,
:mod:`streams.worker` (``smsflow worker``).
"""
__all__: list[str] = []
