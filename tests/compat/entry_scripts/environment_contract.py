"""AZUREML_MODEL_DIR, AZUREML_ENTRY_SCRIPT, AML_APP_ROOT, AML_APP_INSIGHTS_ENABLED and HEALTH_PORT
as a script sees them; a module of AML_APP_ROOT is importable."""
import os

import helper_module


def init():
    pass


def run(data):
    return {
        "model_dir": os.environ.get("AZUREML_MODEL_DIR"),
        "model_files": sorted(os.listdir(os.environ["AZUREML_MODEL_DIR"])),
        "entry_script": os.environ.get("AZUREML_ENTRY_SCRIPT"),
        "app_root": os.environ.get("AML_APP_ROOT"),
        "helper": helper_module.NAME,
        "module_name": __name__,
        "app_insights_enabled": os.environ.get("AML_APP_INSIGHTS_ENABLED"),
        # each server has a port of its own: what is compared is that the probe's port is the scoring port
        "health_port": (
            "the scoring port"
            if os.environ.get("HEALTH_PORT") and os.environ.get("HEALTH_PORT") == os.environ.get("SERVER_PORT")
            else os.environ.get("HEALTH_PORT")
        ),
    }
