"""Producers: send-request validation and production, the webhook receiver, the SMPP bridge.

Modules: ``segments`` (SMS parts), ``phone`` (destination enrichment), ``requests`` (send
request model), ``send`` (``SendProducer``), ``request_file``/``bulk`` (``produce requests``),
``bodies``/``webhooks`` (receiver), ``smpp_bridge`` (receipts and MOs over SMPP). The traffic
simulator is a package of its own, :mod:`simulator`. Their commands live in the shell
(:mod:`shell.produce_cli`, :mod:`shell.smpp_cli`).
"""

__all__: list[str] = []
