"""Rule plugins, one module each; the engine imports the ones whose rules/<name>.toml exists."""
