"""Rule plugins, one module each or one package per family (admission/); the engine imports the ones whose
rules/<name>.toml exists, from plugins/<name>.py or plugins/<family>/<name>.py."""
