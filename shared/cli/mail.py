"""``smguard mail``: list (or show) the messages the development SMTP catcher of ``smguard run`` kept."""

from __future__ import annotations

import argparse

from shared.config import get_settings
from shared.devmail import read_mailbox


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments."""
    parser.add_argument("number", nargs="?", type=int, help="show message N in full (1 = oldest)")
    parser.add_argument("--last", type=int, default=20, help="how many of the newest messages to list")


def main(args: argparse.Namespace) -> int:
    """Print a table of messages, or one message."""
    folder = get_settings().data_dir / "mail"
    mails = read_mailbox(folder)
    if args.number:
        if not 1 <= args.number <= len(mails):
            print(f"smguard mail: no message {args.number} (there are {len(mails)})")
            return 2
        mail = mails[args.number - 1]
        print(f"From: {mail.sender}\nTo: {mail.to}\nDate: {mail.date}\nSubject: {mail.subject}\n\n{mail.body}")
        return 0
    if not mails:
        print(f"no messages yet in {folder}")
        return 0
    start = max(0, len(mails) - args.last)
    for number, mail in enumerate(mails[start:], start=start + 1):
        print(f"{number:>4}  {mail.date[:25]:<25}  {mail.to[:40]:<40}  {mail.subject}")
    print(f"\n{len(mails)} message(s); 'smguard mail N' shows one.")
    return 0
