"""Checks of the CI configuration itself (GitHub Actions workflows)."""
