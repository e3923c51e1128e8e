from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class EchoConfig(AppConfig):
    name = "echo"
    verbose_name = "Echo streams"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks as echo_checks

        checks.register(echo_checks.check_daphne_first, checks.Tags.compatibility)
        checks.register(echo_checks.check_middleware, checks.Tags.compatibility)
        checks.register(echo_checks.check_settings)

        from .broadcast import register_event_type
        from .conf import app_settings
        from .messages import ChatMessage
        from .streams import Echo, ReverseEcho

        register_event_type(ChatMessage, Echo, ReverseEcho)
        from .sessions import recorder
        from .sse import lifecycle

        # Reading the setting here is fine: ready() runs after settings are configured.
        if app_settings.RECORD_SESSIONS:
            lifecycle.add_observer(recorder)
