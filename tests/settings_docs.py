"""The test settings with docs/streams.md's examples installed (a package written from the page
into a temporary folder on PYTHONPATH: tests/embed/test_docs_examples_live.py)."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "examples"]  # noqa: F405
ROOT_URLCONF = "tests.docs_urls"
