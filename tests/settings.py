"""Settings for the test run: the project's own, plus probe URLs that live servers expose.

`ECHO_OPTIMISATIONS=off` in the environment turns every server optimisation off (the Daphne
adapter's direct writes, inbox and direct send; the collector tuning): the suite must pass that
way too (CI runs it once).
"""

import os

from sse_project.settings import *  # noqa: F403

ROOT_URLCONF = "tests.live_urls"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

OPTIMISATIONS = os.environ.get("ECHO_OPTIMISATIONS", "on") != "off"
if not OPTIMISATIONS:
    ECHO = {
        **ECHO,  # noqa: F405
        "DAPHNE_DIRECT_WRITES": False,
        "DAPHNE_INBOX": False,
        "DAPHNE_DIRECT_SEND": False,
        "GC_FREEZE": False,
        "GC_THRESHOLD": None,
    }
