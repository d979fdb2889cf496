"""The audit service: every event of every topic in a tamper-evident Merkle log, with dossiers and replay."""
