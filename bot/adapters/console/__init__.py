"""The console sandbox. The adapter lives in ``adapter.py`` so that importing the config model
(``bot.adapters.console.config``, read with config.toml) loads nothing else."""
