"""django-eventstream as its README sets it up: the app installed, its view at `events/<channel>/`,
the documented model storage on (`EVENTSTREAM_STORAGE_CLASS`), served by Daphne in its own
process, with `startproject`'s middleware. Plus the bench's publish view (`mode=stock`)."""

import os

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_eventstream",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "bench.django_bench.stock"
ASGI_APPLICATION = "bench.django_bench.stock.application"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["ECHO_SQLITE_PATH"]}}
EVENTSTREAM_STORAGE_CLASS = "django_eventstream.storage.DjangoModelStorage"
USE_TZ = True
