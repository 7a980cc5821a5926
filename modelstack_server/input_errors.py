"""Telling the caller's error from the script's when run() raises.

An @input_schema script's run() is inference-schema's wrapper: it converts each argument to the
declared type (a NumpyParameterType's array of the sample's shape and dtype, a pandas frame...)
before the script's own code runs. A value that cannot be converted ({"data": "x"} for an array,
rows of 2 values where the sample has 10) is the caller's error: answered 400 with
inference-schema's message and the parameter's name. Anything raised once the script's own
function runs stays the script's error (500, as in Azure ML's contract)."""

from __future__ import annotations

MAX_MESSAGE_CHARS = 500
_CONVERTER = "_deserialize_input_argument"
_CONVERTER_MODULE = "inference_schema.schema_decorators"


def schema_refusal(error: BaseException | None) -> str | None:
    """The message for the caller when `error` was raised while inference-schema converted an
    argument, else None. Decided from where it was raised, not from its type or text."""
    if error is None or not isinstance(error, Exception):
        return None
    parameter = None
    traceback = error.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code.co_name == _CONVERTER and frame.f_globals.get("__name__") == _CONVERTER_MODULE:
            parameter = frame.f_locals.get("param_name")
            break  # the outermost conversion names the run() parameter
        traceback = traceback.tb_next
    if traceback is None:
        return None
    text = str(error) or type(error).__name__
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + "..."
    return f"the value of {parameter!r} does not fit run()'s input schema: {text}"
