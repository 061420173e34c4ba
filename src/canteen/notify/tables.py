"""Tables of the notify package (one row per recipient and channel of an outbox event)."""
