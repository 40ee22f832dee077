"""The local Apache Kafka broker Baton runs when no broker is configured."""

from baton.kafka_local.broker import (
    KAFKA_VERSION,
    LocalKafka,
    LocalKafkaError,
    broker_answers,
    free_port,
)

__all__ = ["KAFKA_VERSION", "LocalKafka", "LocalKafkaError", "broker_answers", "free_port"]
