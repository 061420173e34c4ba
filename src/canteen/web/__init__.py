"""Server-rendered pages, split by audience (cashier/, elder/, kitchen/, courier/, official/, admin/)."""
