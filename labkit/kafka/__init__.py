"""Thin confluent-kafka wrappers: client configuration, admin (topics, groups, lag)."""
