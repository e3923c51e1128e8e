"""Stream sessions: every stream recorded as a `StreamSession` row, inspected and terminated in
the Django admin (`echo.sessions.admin`), ended by an operator through the control bus
(`echo.sessions.bus`), pruned and closed by management commands."""
