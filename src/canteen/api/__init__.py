"""JSON controllers (v1) for scanners and integrations; msgspec Structs in and out."""
