"""Two inference-schema parameters, one with a default."""
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    pass


@input_schema("a", StandardPythonParameterType(1))
@input_schema("b", StandardPythonParameterType("x"))
@output_schema(StandardPythonParameterType({"a": 1, "b": "x"}))
def run(a, b="default"):
    return {"a": a, "b": b}
