"""Typed server-sent events for Django: the `echo` app and its toolkit, `echo.sse`."""
