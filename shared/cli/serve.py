"""``smguard serve SERVICE``: run one service (HTTP API and its Kafka work) in the foreground."""

from __future__ import annotations

import argparse

import uvicorn

from shared.config import get_settings
from shared.logs import configure as configure_logs
from shared.services import SERVICES, bootstrap


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments."""
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--port", type=int, help="HTTP port (default: the service's, e.g. 8101)")


def main(args: argparse.Namespace) -> int:
    """Build the service from its bootstrap and serve it with uvicorn (one process, one loop)."""
    settings = get_settings()
    configure_logs(args.service, settings.log_level)
    app = bootstrap(args.service).build_app(settings)
    port = args.port or settings.port_of(args.service)
    uvicorn.run(app, host=settings.host, port=port, log_config=None, access_log=False)
    return 0
