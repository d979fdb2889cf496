"""``smguard token --role R [--operator-id X]``: a development bearer token.

Only without an identity provider: with ``SMGUARD_OIDC_ISSUER`` set, tokens come from the provider and
this command refuses (exit 2).
"""

from __future__ import annotations

import argparse
import sys

from shared.auth import ROLES, mint_token
from shared.config import get_settings


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments."""
    parser.add_argument("--role", required=True, choices=ROLES)
    parser.add_argument("--operator-id", help="the operator's tenant id (required for --role operator)")
    parser.add_argument("--sub", help="the subject (person or system) the token names")


def main(args: argparse.Namespace) -> int:
    """Print the token alone on stdout, so ``TOKEN=$(smguard token ...)`` works."""
    try:
        print(mint_token(get_settings(), role=args.role, operator_id=args.operator_id, sub=args.sub))
    except ValueError as exc:
        print(f"smguard token: {exc}", file=sys.stderr)
        return 2
    return 0
