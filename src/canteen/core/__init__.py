"""Cross-cutting pieces every domain uses: errors, db, money, clock, audit, idempotency, i18n."""
