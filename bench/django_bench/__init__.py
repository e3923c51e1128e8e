"""Bench-only Django pieces: the project's settings plus a publish view and the bare-view floor
(`settings`), and django-eventstream's stock set-up in its own process (`stock_settings`)."""
