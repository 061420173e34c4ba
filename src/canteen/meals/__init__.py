"""Meals: the one owner of a meal's row, its rollups and its ledger postings (see services)."""
