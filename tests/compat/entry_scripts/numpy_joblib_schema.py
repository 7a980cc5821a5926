"""inference-schema numpy input, a joblib-saved model from AZUREML_MODEL_DIR (the diabetes shape)."""
import os

import joblib
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.schema_decorators import input_schema, output_schema

model = None


def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "weights.joblib"))


@input_schema("data", NumpyParameterType(np.array([[0.5, 1.0, -2.0]])))
@output_schema(NumpyParameterType(np.array([1.5])))
def run(data):
    return (data @ model["weights"] + model["bias"]).tolist()
