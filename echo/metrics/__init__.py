"""Prometheus metrics of this process: `GET metrics`, for staff users with the sessions
dashboard's view permission, or a bearer token."""
