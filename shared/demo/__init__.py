"""The agreement's story, played against a running system over HTTP (``smguard demo``, end-to-end tests)."""
