"""``smguard serve SERVICE``: run one service (HTTP API and its Kafka work) in the foreground."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from shared import tracing
from shared.auth import TokenConfigError, check_settings
from shared.config import Settings, get_settings
from shared.kafka.access import service_credentials
from shared.logs import configure as configure_logs
from shared.services import PROCESSES, bootstrap


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments."""
    parser.add_argument("service", choices=PROCESSES)
    parser.add_argument("--port", type=int, help="HTTP port (default: the instance's, e.g. 8101 for the first)")
    parser.add_argument("--instance", type=int, default=None, help="which instance of the service this is (default 0)")


def main(args: argparse.Namespace) -> int:
    """Build the service from its bootstrap and serve it with uvicorn (one process, one loop)."""
    settings = get_settings()
    if args.instance is not None:
        settings = settings.model_copy(update={"instance": args.instance})
    if args.port:
        if settings.instance:
            print("smguard serve: --port is for the first instance; further instances take SMGUARD_INSTANCE_PORT_BASE")
            return 2
        settings = settings.model_copy(update={f"{args.service}_port": args.port})  # the address it advertises too
    try:
        check_settings(settings)  # the token mode: an issuer, or a development key on loopback only
    except TokenConfigError as exc:
        print(f"smguard serve: {exc}", file=sys.stderr)
        return 2
    settings = own_principal(settings, args.service)
    configure_logs(args.service, settings.log_level)
    tracing.setup(args.service, instance=settings.instance)  # OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set
    app = bootstrap(args.service).build_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port_of(args.service), log_config=None, access_log=False)
    return 0


def own_principal(settings: Settings, service: str) -> Settings:
    """Connect as the service's own Kafka principal when none is configured and this machine has its
    credentials (``smguard kafka-user setup``, which ``smguard run`` does): least privilege by default."""
    if settings.kafka_username or not settings.kafka_security_protocol.startswith("SASL_"):
        return settings
    credentials = service_credentials(settings, service)
    if credentials is None:
        return settings
    return settings.model_copy(update={"kafka_username": credentials.user, "kafka_password_file": credentials.password_file,
                                       "kafka_password": None})  # fmt: skip
