"""The shell: every ``smsflow`` command, ``smsflow run`` (its supervisor, ops API, alerting,
demo) and the clients that talk to a running pipeline.

The top floor: it may import every package below it (``dashboard``, ``simulator``,
``infra``, the stages ``producers``, ``streams`` and ``sinks``, ``schemas``, the core
``smsflow``); none of them imports it. ``tests/unit/test_layers.py`` enforces this
(docs/design.md, "Layers").
"""
