"""Imported by environment_contract.py from AML_APP_ROOT (not an entry script)."""
NAME = "helper from the app root"
