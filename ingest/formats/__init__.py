"""One module per export family; each parser is registered by name in ingest/registry.py."""
