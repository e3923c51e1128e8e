"""Streams for other origins: signed stream tickets in the URL, and CORS for the stream views.

`EventSource` cannot send an `Authorization` header and sends cookies to another origin only in
credentials mode. A page on another origin (a separate front end, a subdomain) opens a stream
with `?ticket=...` instead: a short-lived pass to one stream path for one user, issued where the
user is signed in (`echo.tickets.issue.issue_ticket`, or `POST` to `echo.tickets.views.issue`).
`TicketMiddleware` accepts it in place of the session for that path only. `ECHO["STREAM_ORIGINS"]`
lets those origins read the stream views through django-cors-headers, which writes the headers.
"""
