"""Prometheus metrics of this process: `GET metrics`, for staff users or a bearer token."""
