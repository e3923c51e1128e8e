"""Broadcast channels: typed events published from anywhere, replayed by `Last-Event-ID` from
django-eventstream's storage, fanned out by a per-process hub, carried between processes by Redis
and to Pushpin through GRIP."""
