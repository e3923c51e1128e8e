"""The Django glue: where the toolkit meets a Django site.

The response (`response`), the middleware, the ASGI handler (`asgi`) and its disconnect watch
(`disconnect`), system checks (`checks`), HTTP helpers (`http`), a view's declared events
(`contract`), logging and redaction (`logs`, `redact`), the migrations check (`migrations`), the
one adapter to Django's private details (`django_internals`) and test helpers (`testing`). Built
on the runtime and the wire format, which never import it. The paths a site names in its settings
stay `echo.sse.middleware` and `echo.sse.asgi`.
"""
