"""Dialogs: decomposition settings."""
