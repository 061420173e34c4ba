"""Deterministic demo data: people, places and workbooks that look like the real thing."""
