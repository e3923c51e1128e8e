"""Settings for the test run: the project's own, plus probe URLs that live servers expose.

`ECHO_OPTIMISATIONS=off` in the environment turns every server optimisation off (the Daphne
adapter's direct writes, inbox and direct send; the collector tuning): the suite must pass that
way too (CI runs it once).
"""

import faulthandler
import json
import os
import signal

from sse_project.settings import *  # noqa: F403

# A live server that hangs can say where: SIGUSR1 writes every thread's stack to its log
# (`Server.stacks()` in tests/servers.py).
faulthandler.register(signal.SIGUSR1, all_threads=True)

ROOT_URLCONF = "tests.live_urls"
INSTALLED_APPS = [*INSTALLED_APPS, "tests.apps.TestChannelsConfig"]  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# WhiteNoise wants its STATIC_ROOT to exist; tests that collect static files name their own.
if "ECHO_STATIC_ROOT" not in os.environ:
    STATIC_ROOT = BASE_DIR / "tests" / "staticroot"  # noqa: F405
# Publishing open to anyone, so tests can publish to channels of their own (tests/access.py).
EVENTSTREAM_CHANNELMANAGER_CLASS = "tests.access.OpenPublishingChannelManager"

# The sessions' control bus through channels' in-memory layer (the project sets no CHANNEL_LAYERS:
# without REDIS_URL the bus ends sessions in-process), so the tests exercise the group messages.
if not os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Broadcast storage off (a live test of what that means).
if os.environ.get("ECHO_TEST_STORAGE_OFF") == "1":
    EVENTSTREAM_STORAGE_CLASS = None
    SILENCED_SYSTEM_CHECKS = ["echo.W005"]

# Live tests publish over HTTP faster than the product's per-client limit allows; the limit's
# own tests set it (tests/broadcast/test_abuse.py).
ECHO = {**ECHO, "PUBLISH_RATE": None}  # noqa: F405

# A live test's own ECHO keys, as JSON (`ECHO_TEST_SETTINGS='{"ERROR_EVENT": false}'`).
ECHO = {**ECHO, **json.loads(os.environ.get("ECHO_TEST_SETTINGS", "{}"))}

OPTIMISATIONS = os.environ.get("ECHO_OPTIMISATIONS", "on") != "off"
if not OPTIMISATIONS:
    ECHO = {
        **ECHO,
        "DAPHNE_DIRECT_WRITES": False,
        "DAPHNE_INBOX": False,
        "DAPHNE_DIRECT_SEND": False,
        "GC_FREEZE": False,
        "GC_THRESHOLD": None,
    }
