"""Authoring helpers: ``stormpack new`` (scaffold)."""
