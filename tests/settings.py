"""Settings for the test run: the project's own, plus probe URLs that live servers expose."""

from sse_project.settings import *  # noqa: F403

ROOT_URLCONF = "tests.live_urls"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
