"""ClickHouse side of smsflow: DDL migrations, the batching sink, named report queries.

Entry points: :func:`sinks.migrate.migrate`, :func:`sinks.sink.run_sink`,
:func:`sinks.reports.run_report`; the ``db``, ``sink`` and ``report`` CLI groups live in
:mod:`shell.sink_cli`.
"""
