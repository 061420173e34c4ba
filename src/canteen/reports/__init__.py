"""Read-only queries and exports for district officials and the public. Nothing here writes."""
