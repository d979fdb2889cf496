"""The connection service: operators, connections, blocks, reconnection and enforcement."""
