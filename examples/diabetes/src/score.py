"""Azure ML-style entry script for the diabetes regression model.

init() runs once when the container starts; run() once per request. AZUREML_MODEL_DIR is the
folder that holds this service's one model, with its original file name.
"""

import os

import joblib
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.schema_decorators import input_schema, output_schema

model = None

# Ten standardised features per patient (age, sex, bmi, bp, s1..s6), as in load_diabetes().
INPUT_SAMPLE = np.array([[0.038, 0.051, 0.062, 0.022, -0.044, -0.035, -0.043, -0.003, 0.020, -0.018]])
OUTPUT_SAMPLE = np.array([206.1])


def init():
    global model
    # The service's one model, whichever it is (a rollout version may serve another regression).
    folder = os.environ["AZUREML_MODEL_DIR"]
    (name,) = [file for file in os.listdir(folder) if file.endswith(".joblib")]
    model = joblib.load(os.path.join(folder, name))


@input_schema("data", NumpyParameterType(INPUT_SAMPLE))
@output_schema(NumpyParameterType(OUTPUT_SAMPLE))
def run(data):
    return model.predict(data).tolist()
