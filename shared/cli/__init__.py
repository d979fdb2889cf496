"""The ``smguard`` command line: one sub-command per module, loaded only when used."""

from __future__ import annotations

import argparse
import importlib
import sys

# name → (module, one-line help). Each module has ``configure(parser)`` and ``main(args) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("shared.cli.run", "the whole system on this machine: Kafka broker and the four services"),
    "serve": ("shared.cli.serve", "one service in the foreground (incident, connection, notification, audit)"),
    "token": ("shared.cli.token", "mint a development bearer token for a role"),
    "schemas": ("shared.cli.schemas", "write the JSON Schemas and AsyncAPI document of the event catalog"),
    "verify": ("services.audit.entrypoints.cli_verify", "verify the audit log, optionally against a kept checkpoint"),
    "dossier": ("services.audit.entrypoints.cli_dossier", "an incident's whole story as a document"),
    "replay": ("shared.cli.replay", "rebuild read models from the topics and compare with the live ones"),
    "demo": ("shared.cli.demo", "play the agreement's story against the running system, step by step"),
    "kafka-user": ("shared.cli.kafka_user", "the broker's principals: each service's, and read-only ones for the SOC's consumers"),
    "secrets": ("shared.cli.secrets", "the connection secrets key ring: rotate-key, reseal, keys, retire-key"),
    "tail": ("shared.cli.tail", "follow the event topics as a SOC consumer would: CloudEvents, readable lines or ECS"),
    "mail": ("shared.cli.mail", "list the e-mails the development SMTP catcher of 'smguard run' received"),
}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one sub-command."""
    parser = argparse.ArgumentParser(prog="smguard", description="smguard: the security agreement, operated.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        module.configure(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.main(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
