"""Payments: the append-only double-entry ledger, elder balances, cash top-ups and reversals."""
