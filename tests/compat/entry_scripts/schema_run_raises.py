"""inference-schema numpy input that fits the schema, then run()'s own code raises: the script's
error (500 in Azure ML's contract), not the caller's."""
import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.schema_decorators import input_schema


def init():
    pass


@input_schema("data", NumpyParameterType(np.array([[0.5, 1.0, -2.0]])))
def run(data):
    raise ValueError(f"the model cannot take rows summing to {float(data.sum())}")
