"""Menus: dishes per district, daily menus per cooking site and slot, meal sets with capacity."""
