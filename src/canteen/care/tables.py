"""Tables of the care package (visit plans, visits, civil-affairs list imports, refund tasks)."""
