"""``python -m smsflow`` is the ``smsflow`` command."""

from shell.cli import main

main()
