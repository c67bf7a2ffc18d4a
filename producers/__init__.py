"""Producers: send-request validation and production, the webhook receiver, the simulator.

Modules: ``segments`` (SMS parts), ``phone`` (destination enrichment), ``requests`` (send
request model), ``send`` (``SendProducer``), ``rows``/``bulk`` (``produce requests``),
``bodies``/``webhooks`` (receiver), ``cli`` (commands); the simulator's modules are ``sim_*``.
"""

__all__: list[str] = []
