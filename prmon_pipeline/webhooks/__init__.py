"""GitHub webhooks in: the receiver (an ASGI app) and how it is served (issue 16)."""
