"""The Daphne server adapter: `echo.server.Server`, served by `python -m echo.server` and by
`manage.py runserver` when `echo.server` comes first in `INSTALLED_APPS`."""
