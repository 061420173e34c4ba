"""Subsidy policies and tiers.

``rules.py`` is the pure engine (``quote``, ``validate_policy``,
``policy_in_force``); ``schemas.py`` holds the policy document and quote
Structs; ``demo.py`` a realistic policy for the demo district.
"""
