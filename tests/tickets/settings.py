"""The test settings with stream tickets' view mounted (`echo_tickets:issue`)."""

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.tickets.urls"
