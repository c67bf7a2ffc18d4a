"""Stream processing (Faust): join events by umid, message state machine, reply pairs.

Pure parts (no Kafka): :mod:`streams.state` (transitions; contributions and delta rows are
:mod:`smsflow.contribution`), :mod:`streams.replies` (reply matching). Kafka parts:
:mod:`streams.app` (app factory), :mod:`streams.agents`, :mod:`streams.worker`
(``smsflow worker``).
"""
__all__: list[str] = []
