"""The typed contract, published: every declared stream and broadcast channel as an AsyncAPI 3.0
document (`manage.py sse_schema`, and a staff-only URL), and an OpenAPI 3.1 fragment of the
stream views for a site that documents its HTTP API with OpenAPI."""
