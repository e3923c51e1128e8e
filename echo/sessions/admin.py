from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from echo.sse.glue.http import json_error, method_not_allowed
from echo.sse.glue.redact import redact_query

from . import bus
from .conf import app_settings
from .dashboard import dashboard_stream
from .models import StreamSession
from .recorder import recorder

__all__ = ["SessionColumns", "StreamSessionAdmin", "live_counts"]

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[StreamSession]
else:
    _ModelAdmin = admin.ModelAdmin  # not subscriptable at run time


def live_counts() -> dict[str, int]:
    rows = StreamSession.objects.live().values("stream").annotate(n=Count("id")).order_by("stream")
    return {row["stream"] or "(no events yet)": row["n"] for row in rows}


class StateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("live", "live"), ("ended", "ended")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "live":
            return queryset.filter(ended_at__isnull=True)
        if self.value() == "ended":
            return queryset.filter(ended_at__isnull=False)
        return queryset


class SessionColumns:
    """How the change list and form show a session's values."""

    @admin.display(description="query")
    def query_shown(self, obj: StreamSession) -> str:
        return redact_query(obj.query, app_settings.SECRET_QUERY_PARAMETERS)

    @admin.display(description="stream", ordering="stream")
    def stream_name(self, obj: StreamSession) -> str:
        # Cut to the column's width by the stylesheet (a broadcast stream's name lists every
        # channel); the whole name in the title.
        return format_html('<span class="echo-cut" title="{}">{}</span>', obj.stream, obj.stream)

    @admin.display(description="user", ordering="user__username")
    def user_name(self, obj: StreamSession) -> str:
        name = obj.user.get_username() if obj.user is not None else ""
        return format_html('<span class="echo-cut" title="{}">{}</span>', name, name) if name else "-"

    @admin.display(description="started", ordering="started_at")
    def started(self, obj: StreamSession) -> str:
        # To the second, in the site's time zone; the admin's default date format has no seconds.
        return localtime(obj.started_at).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="events", ordering="events_sent")
    def events(self, obj: StreamSession) -> int:
        return obj.events_sent

    @admin.display(description="bytes", ordering="bytes_sent")
    def bytes_display(self, obj: StreamSession) -> str:
        return filesizeformat(obj.bytes_sent)

    @admin.display(description="duration")
    def duration_display(self, obj: StreamSession) -> str:
        seconds = int(obj.duration.total_seconds())
        hours, rest = divmod(seconds, 3600)
        return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"

    @admin.display(description="state", boolean=False)
    def state(self, obj: StreamSession) -> str:
        return "live" if obj.is_live else "ended"


@admin.register(StreamSession)
class StreamSessionAdmin(SessionColumns, _ModelAdmin):
    """Sessions are records: every field read-only, nothing added or deleted by hand."""

    # Narrow enough for a laptop (1280 px) with the admin's sidebar and the filters beside it:
    # the columns that decide what to terminate (state, end reason) stay in view.
    list_display = [
        "stream_name",
        "client",
        "user_name",
        "started",
        "duration_display",
        "events",
        "bytes_display",
        "state",
        "end_reason",
    ]
    list_filter = ["stream", StateFilter, "end_reason"]
    search_fields = ["client", "path", "user__username"]
    date_hierarchy = "started_at"
    list_select_related = ["user"]
    actions = ["terminate_sessions"]
    change_list_template = "admin/echo_sessions/streamsession/change_list.html"

    class Media:
        css = {"all": ["echo_sessions/changelist.css"]}

    def get_fields(self, request: HttpRequest, obj: StreamSession | None = None) -> Any:
        # The query as recorded now, with credentials' values redacted, for rows written before
        # the recorder redacted them too.
        return self._shown_fields()

    @staticmethod
    def _shown_fields() -> list[str]:
        return [
            "query_shown" if field.name == "query" else field.name for field in StreamSession._meta.fields
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: StreamSession | None = None) -> list[str]:
        return self._shown_fields()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: StreamSession | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: StreamSession | None = None) -> bool:
        return False

    def has_terminate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("echo_sessions.terminate_streamsession")

    @admin.action(description="Terminate selected live sessions", permissions=["terminate"])
    def terminate_sessions(self, request: HttpRequest, queryset: QuerySet[StreamSession]) -> None:
        ids = list(queryset.filter(ended_at__isnull=True).values_list("id", flat=True))
        if not ids:
            self.message_user(request, "None of the selected sessions is live.", messages.WARNING)
            return
        user = request.user
        if bus.terminate_sessions(ids, by=f"{user.get_username()} (user id {user.pk}, admin action)"):
            self.message_user(request, f"Asked {len(ids)} live session(s) to end.", messages.SUCCESS)
            return
        self.message_user(
            request,
            "The other server processes cannot be reached (the control bus is down): only the "
            "sessions this process serves were ended. Ask again when it is back.",
            messages.WARNING,
        )

    def get_urls(self) -> list[URLPattern]:
        live = path(
            "live.json",
            self.admin_site.admin_view(self.live_view),
            name="echo_sessions_streamsession_live",
        )
        dashboard = path(
            "dashboard/",
            self.admin_site.admin_view(self.dashboard_view),
            name="echo_sessions_streamsession_dashboard",
        )
        # Not through admin_view: an event stream's client gets a JSON 403, not a login page.
        feed = path(
            "dashboard/events/",
            never_cache(self.dashboard_events),
            name="echo_sessions_streamsession_dashboard_events",
        )
        return [live, dashboard, feed, *super().get_urls()]

    def dashboard_view(self, request: HttpRequest) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Stream dashboard",
            "opts": self.model._meta,
            "server": recorder.server,
        }
        return TemplateResponse(request, "admin/echo_sessions/streamsession/dashboard.html", context)

    def dashboard_events(self, request: HttpRequest) -> HttpResponseBase:
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed(request, ("GET", "HEAD"))
        if not (self.admin_site.has_permission(request) and self.has_view_permission(request)):
            return json_error(
                403, "forbidden", "The dashboard is for staff users who may view stream sessions."
            )
        return dashboard_stream()

    def live_view(self, request: HttpRequest) -> JsonResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        counts = live_counts()
        return JsonResponse({"live": counts, "total": sum(counts.values())})

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return super().changelist_view(request, {**(extra_context or {}), "live_counts": live_counts()})
