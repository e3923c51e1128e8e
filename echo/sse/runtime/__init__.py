"""The runtime: what a process keeps and does for its open streams, on top of the wire format.

A stream's life (`run`, with `pump` for the pumped mode and `liveness` for keep-alive pings and
ending clients that stopped reading), the streams open in the process (`registry`,
`stream_info`), ending them at shutdown (`shutdown`), start-up (`startup`), the handler's threads
(`threads`), the receive queue a server offers (`inbox`), metrics (`stats`), the Protocols the
layers meet through (`protocols`) and the inventory of process state (`state`). Imports the wire
format and `echo.sse.conf`, never the Django glue.
"""
