"""The traffic simulator with ground truth (``smsflow simulate``) and the test SMSC.

Modules: ``simulation`` (``simulate(SimConfig) -> Simulation``, the entry point; re-exports
what callers need), ``config`` (``SimConfig``, every rate of every fault), ``world``
(countries, operators, prices, subaccounts), ``texts`` (message bodies), ``events`` (delivery
times and ordering), ``outbound`` / ``inbound`` (the traffic), ``incidents`` (alert scenarios),
``smpp`` (receipts and MOs as ``deliver_sm`` PDUs), ``smsc`` (the test SMSC behind
``smsflow smsc``), ``truth`` / ``quality_truth`` (the expected reports), ``files`` (a
simulation on disk), ``produce`` (its events to the broker). It sits on the dashboard's floor:
it uses the producers stage (segments, phone numbers, receipt states, SMPP PDUs) and the
stages never import it; its commands live in the shell (:mod:`shell.simulate_cli`,
:mod:`shell.smpp_cli`).
"""

__all__: list[str] = []
