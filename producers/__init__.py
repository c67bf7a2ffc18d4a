"""Producers: send-request validation and production, the webhook receiver, the simulator.

Modules: ``segments`` (SMS parts), ``phone`` (destination enrichment), ``requests`` (send
request model), ``send`` (``SendProducer``), ``rows``/``bulk`` (``produce requests``),
``bodies``/``webhooks`` (receiver); the simulator's modules are ``sim_*``. Their commands
live in the shell (:mod:`shell.produce_cli`, :mod:`shell.simulate_cli`, :mod:`shell.smpp_cli`).
"""

__all__: list[str] = []
