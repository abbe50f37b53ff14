"""The server's limits on what a subscription holds (a circuit's own limits are in :mod:`.circuit`)."""

SUBSCRIPTION_BACKLOG = 100  # pending updates per subscription, at most ...
SUBSCRIPTION_BACKLOG_BYTES = 1 << 20  # ... and at most this many bytes of them; always at least one
LARGE = 1 << 16  # bytes: a payload this size or more is written on its own, as a memoryview
