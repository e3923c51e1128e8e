"""The echo demo: the reference article's `/sse`, `/sse2` and `/sse3`, wire-compatible, and a live
page with a broadcast channel. Installed by `sse_project`; a site embedding echo need not."""
