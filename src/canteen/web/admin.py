"""Placeholder until the admin pages land."""

ADMIN_PAGES: list[object] = []
