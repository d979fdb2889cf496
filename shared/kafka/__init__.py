"""Kafka adapters shared by the services: topic admin, readers, dead letters, subscribers."""
