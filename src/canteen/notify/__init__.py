"""Notifications: events from the domains (written to the core outbox in their own transaction)
fanned out to the people who must know — family members, the emergency contact, the community
worker — through providers behind one interface (SMS gateway, WeChat template message, signed
webhook), with retries, backoff and quiet hours."""
