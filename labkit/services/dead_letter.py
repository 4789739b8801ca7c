"""Park a message a service cannot decode: the reason, where it came from, and its bytes, then move on.

A value over KEPT_BYTES is kept truncated (with its full size): a 1 MB record re-encoded in base64 would exceed
the topic's limit, fail to park, and block its partition for ever; and the dead-letter record itself must stay
decodable (under MAX_MESSAGE_BYTES once base64 has grown the value by a third).
"""

from __future__ import annotations

import base64
import logging

from confluent_kafka import Message

from labkit.domain.messages import MAX_MESSAGE_BYTES, DeadLetter, encode
from labkit.domain.naming import KafkaTopicBuilder
from labkit.kafka.producer import ReliableProducer
from labkit.kafka.worker import position

log = logging.getLogger(__name__)

KEPT_BYTES = MAX_MESSAGE_BYTES // 2


def park(producer: ReliableProducer, event_id: int, service: str, message: Message, reason: str) -> None:
    """Send the dead-letter record; the worker commits the offset only once it is acknowledged."""
    key = message.key()
    value = message.value() or b""
    topic, partition, offset = position(message)
    record = DeadLetter(
        service=service,
        reason=reason,
        topic=topic,
        partition=partition,
        offset=offset,
        key=key.decode(errors="replace") if key is not None else None,
        value_base64=base64.b64encode(value[:KEPT_BYTES]).decode(),
        value_size=len(value),
        truncated=len(value) > KEPT_BYTES,
    )
    log.warning("%s parked %s[%d]@%d: %s", service, record.topic, record.partition, record.offset, reason)
    producer.send(KafkaTopicBuilder.dead_letter__services_to_operator(event_id), encode(record), key=record.key)
