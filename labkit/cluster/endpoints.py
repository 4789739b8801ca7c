"""Where Kafka and Redis are: the environment's cluster when it names one, else the embedded cluster."""

from __future__ import annotations

from labkit.cluster.local import LocalCluster
from labkit.errors import ConfigError
from labkit.kafka.clients import use_connection
from labkit.settings import Settings


def kafka_bootstrap(settings: Settings) -> str:
    """KAFKA_BOOTSTRAP_SERVERS, or the running embedded cluster's brokers (ClusterError if none runs). Clients
    built for an external cluster's bootstrap list get its KAFKA_CLIENT_CONFIG settings from here on."""
    if settings.kafka_bootstrap_servers is not None:
        if settings.client_config is not None:
            config = settings.client_config
            use_connection(settings.kafka_bootstrap_servers, config.librdkafka(), config.path)
        return settings.kafka_bootstrap_servers
    return LocalCluster(settings.home).running_state().bootstrap_servers


def redis_url(settings: Settings) -> str:
    """REDIS_URL, or the running embedded cluster's Redis. An external Kafka needs an explicit REDIS_URL."""
    if settings.redis_url is not None:
        return settings.redis_url
    if settings.external:
        raise ConfigError(
            "KAFKA_BOOTSTRAP_SERVERS is set but REDIS_URL is not: set REDIS_URL (e.g. redis://127.0.0.1:6666/0)"
        )
    return LocalCluster(settings.home).running_state().redis_url
