"""``smguard kafka-user``: the broker's principals — the services', and read-only ones for the SOC's consumers.

    smguard kafka-user setup                         topics + each service's principal and ACLs (smguard run does it)
    smguard kafka-user add soc-siem --role soc-consumer   a principal; prints how it connects, password included
    smguard kafka-user add soc-siem --role soc-consumer --rotate   a new password for it
    smguard kafka-user remove soc-siem               its credential and every ACL of it

Run as the broker's super-user: on the machine of ``smguard run`` that is automatic (its password is in
``<data dir>/kafka-security``); elsewhere set SMGUARD_KAFKA_USERNAME/SMGUARD_KAFKA_PASSWORD to it.
"""

from __future__ import annotations

import argparse
import sys

from shared.config import get_settings
from shared.kafka.access import ROLES, SOC_CONSUMER, AccessError, add_user, principal_name, remove_user, setup
from shared.kafka.clients import KafkaAccessError, access


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("setup", help="make every topic, and each service's principal with its ACLs")
    add = sub.add_parser("add", help="make (or update) a principal and print how it connects")
    add.add_argument("name", help="the principal's name (a SOC consumer's; a service's principal is named after it)")
    add.add_argument("--role", required=True, choices=ROLES,
                     help=f"what it may do: {SOC_CONSUMER} reads the event topics; a service's name, that service's topics")  # fmt: skip
    add.add_argument("--rotate", action="store_true", help="give it a new password (the old one stops working)")
    remove = sub.add_parser("remove", help="delete a principal's credential and ACLs")
    remove.add_argument("name")


def main(args: argparse.Namespace) -> int:
    """Do the action as the broker's super-user; a clear one-line error when the broker refuses."""
    settings = get_settings()
    try:
        if args.action == "setup":
            made = setup(settings)
            for service, credentials in made.items():
                print(f"{credentials.user:<28} role {service:<13} password in {credentials.password_file}")
            return 0
        if args.action == "remove":
            user = settings.topic_prefix + args.name if not args.name.startswith(settings.topic_prefix) else args.name
            remove_user(settings, user)
            print(f"removed {user}")
            return 0
        name = None if args.role != SOC_CONSUMER else args.name
        if args.role != SOC_CONSUMER and args.name not in (args.role, principal_name(settings.topic_prefix, args.role)):
            print(f"smguard kafka-user: a {args.role} principal is named {principal_name(settings.topic_prefix, args.role)}; "
                  f"give NAME as {args.role}", file=sys.stderr)  # fmt: skip
            return 2
        credentials = add_user(settings, args.role, name, rotate=args.rotate)
    except (AccessError, KafkaAccessError, ValueError) as exc:
        print(f"smguard kafka-user: {exc}", file=sys.stderr)
        return 1
    a = access(settings)
    print(f"# {credentials.user}: {credentials.role}. Keep the password secret; it is also in {credentials.password_file} (0600).")
    print(f"SMGUARD_KAFKA_BOOTSTRAP_SERVERS={a.bootstrap}")
    print(f"SMGUARD_KAFKA_SECURITY_PROTOCOL={a.protocol}")
    print("SMGUARD_KAFKA_SASL_MECHANISM=SCRAM-SHA-512")
    print(f"SMGUARD_KAFKA_USERNAME={credentials.user}")
    print(f"SMGUARD_KAFKA_PASSWORD={credentials.password}")
    if a.ca_file:
        print(f"SMGUARD_KAFKA_CA_FILE={a.ca_file}")
    if credentials.role == SOC_CONSUMER:
        print(f"# consumer groups must start with {credentials.user!r}; it may read the event topics only")
    return 0
