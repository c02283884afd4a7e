"""Platform adapters. Each turns raw updates into neutral events and performs neutral actions.

Only the modules under this package may import a platform SDK. ``base`` holds the contract every adapter
keeps, ``registry`` builds the adapters config.toml names. This file imports nothing, so importing the
contract never loads an adapter.
"""
