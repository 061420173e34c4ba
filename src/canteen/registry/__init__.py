"""Elders, categories with validity, member cards (QR tokens, sheets) and imports."""
