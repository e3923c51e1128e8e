from __future__ import annotations

from argparse import ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from echo.sessions.models import StreamSession

from ._duration import parse_duration


class Command(BaseCommand):
    help = "Delete ended stream sessions older than a given age. Safe to run from cron."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            default="7d",
            type=parse_duration,
            help="Delete sessions that ended longer ago than this (90s, 30m, 12h, 7d, 2w; default 7d).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Only say how many would go.")

    def handle(self, *args: Any, older_than: Any, dry_run: bool, **options: Any) -> None:
        if isinstance(older_than, str):  # call_command(older_than="7d") skips argparse's type
            try:
                older_than = parse_duration(older_than)
            except ArgumentTypeError as exc:
                raise CommandError(str(exc)) from None
        cutoff = timezone.now() - older_than
        old = StreamSession.objects.filter(ended_at__lt=cutoff)
        when = f"ended before {cutoff:%Y-%m-%d %H:%M:%S} UTC"
        if dry_run:
            self.stdout.write(f"Would delete {old.count()} session(s) that {when}.")
            return
        deleted, _ = old.delete()
        self.stdout.write(f"Deleted {deleted} session(s) that {when}.")
