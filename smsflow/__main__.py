"""``python -m smsflow`` is the ``smsflow`` command."""

from smsflow.cli import main

main()
