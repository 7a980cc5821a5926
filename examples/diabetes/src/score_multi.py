"""Entry script that serves two models from one container.

With several models, AZUREML_MODEL_DIR is a root with <model name>/<version>/ below it. The
version is derived from the model's content, so the script finds the single version folder
of each model instead of hard-coding it.
"""

import glob
import os

import joblib
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema

models = {}

INPUT_SAMPLE = np.array([[0.038, 0.051, 0.062, 0.022, -0.044, -0.035, -0.043, -0.003, 0.020, -0.018]])
OUTPUT_SAMPLE = StandardPythonParameterType({"ridge": [206.1], "lasso": [199.7]})


def _load(model_name, file_name):
    (path,) = glob.glob(os.path.join(os.environ["AZUREML_MODEL_DIR"], model_name, "*", file_name))
    return joblib.load(path)


def init():
    models["ridge"] = _load("diabetes-ridge", "ridge.joblib")
    models["lasso"] = _load("diabetes-lasso", "lasso.joblib")


@input_schema("data", NumpyParameterType(INPUT_SAMPLE))
@output_schema(OUTPUT_SAMPLE)
def run(data):
    return {name: model.predict(data).tolist() for name, model in models.items()}
