"""smsflow: SMS platform events through Kafka (Avro) and Faust into ClickHouse."""

__all__ = ["__version__"]

__version__ = "0.1.0"
