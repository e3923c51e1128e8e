"""The test settings with docs/streams.md's examples installed (a package written from the page
into a temporary folder on PYTHONPATH: tests/embed/test_docs_examples_live.py)."""

from tests.settings import *  # noqa: F403

# As a site of its own: the examples declare their channels, not the test servers' catch-all.
INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "tests.apps.TestChannelsConfig"] + ["examples"]  # noqa: F405
ROOT_URLCONF = "tests.docs_urls"
