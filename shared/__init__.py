"""Code the four smguard services share: the event catalog, the Kafka backbone, auth and operations."""
