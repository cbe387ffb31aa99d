"""One module per export family; each parser is registered under `twin.formats` in pyproject.toml."""
