"""How the real parts start: the local Apache Kafka broker (KRaft) and its topics."""
