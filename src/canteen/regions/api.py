"""Placeholder until the regions API lands."""

CONTROLLERS: list[object] = []
