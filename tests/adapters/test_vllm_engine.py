"""vLLM mapping: OpenAI sampling → SamplingParams, vLLM exceptions → engine errors (complete)."""

from __future__ import annotations

import pytest
from vllm.exceptions import VLLMClientError, VLLMValidationError
from vllm.sampling_params import RequestOutputKind
from vllm.v1.engine.exceptions import EngineDeadError, EngineGenerateError

from adapters.engine import SamplingOptions
from adapters.errors import EngineDown, EngineFailed, EngineFault, PromptTooLong, RequestRejected
from adapters.vllm_engine import to_sampling_params, translate_vllm_error
from gateway.errors import ClientError, EngineUnavailable, ServerError, from_engine_error


def test_sampling_options_map_onto_sampling_params() -> None:
    options = SamplingOptions(
        max_tokens=9,
        temperature=0.7,
        top_p=0.5,
        top_k=3,
        n=2,
        stop=["x"],
        stop_token_ids=[7],
        seed=1,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        repetition_penalty=1.1,
        logprobs=2,
    )
    params = to_sampling_params(options, stream=True)
    assert (params.max_tokens, params.temperature, params.top_p, params.top_k, params.n) == (9, 0.7, 0.5, 3, 2)
    assert (params.stop, params.stop_token_ids, params.seed, params.logprobs) == (["x"], [7], 1, 2)
    assert (params.presence_penalty, params.frequency_penalty, params.repetition_penalty) == (0.1, 0.2, 1.1)
    assert params.output_kind == RequestOutputKind.DELTA


def test_unset_max_tokens_leaves_the_rest_of_the_context_to_the_engine() -> None:
    params = to_sampling_params(SamplingOptions(), stream=False)
    assert params.max_tokens is None
    assert params.output_kind == RequestOutputKind.FINAL_ONLY


def test_model_defaults_fill_only_unset_fields() -> None:
    defaults = {"temperature": 0.5, "top_k": 1, "repetition_penalty": 1.03, "max_new_tokens": 64}
    params = to_sampling_params(SamplingOptions(top_k=5), stream=False, defaults=defaults)
    assert (params.temperature, params.top_k, params.repetition_penalty, params.max_tokens) == (0.5, 5, 1.03, 64)


def test_json_schema_becomes_structured_output() -> None:
    assert to_sampling_params(SamplingOptions(json_schema={}), stream=False).structured_outputs.json_object
    schema = {"type": "object"}
    assert to_sampling_params(SamplingOptions(json_schema=schema), stream=False).structured_outputs.json == schema


def _wrapped(cause: Exception) -> EngineGenerateError:
    try:
        raise EngineGenerateError() from cause
    except EngineGenerateError as error:
        return error


VLLM_ERRORS = [
    (EngineDeadError(), EngineDown),
    (VLLMValidationError("prompt exceeds the model's context length", parameter="messages"), PromptTooLong),
    (VLLMValidationError("bad value", parameter="top_k"), RequestRejected),
    (VLLMClientError("bad"), RequestRejected),
    (
        ValueError("The decoder prompt (length 9000) is longer than the maximum model length of 8192."),
        PromptTooLong,
    ),
    (ValueError("absolute aspect ratio must be smaller than 200"), RequestRejected),
    (_wrapped(ValueError("processor rejected the image")), RequestRejected),
    (EngineGenerateError(), EngineFailed),
    (RuntimeError("kernel failure"), EngineFailed),
]


@pytest.mark.parametrize("error,expected", VLLM_ERRORS, ids=[type(e).__name__ for e, _ in VLLM_ERRORS])
def test_vllm_errors_translate_to_engine_errors(error: Exception, expected: type[EngineFault]) -> None:
    translated = translate_vllm_error(error)
    assert type(translated) is expected
    if isinstance(translated, EngineFailed):
        assert "kernel" not in translated.message  # internals stay in the log


def test_every_vllm_exception_class_translates_to_its_side_of_the_split() -> None:
    import vllm.exceptions
    import vllm.v1.engine.exceptions
    from vllm.exceptions import GracefulHTTPError, VLLMClientError

    modules = (vllm.exceptions, vllm.v1.engine.exceptions)
    classes = [
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == module.__name__
    ]
    assert len(classes) >= 10
    for cls in classes:
        error = cls.__new__(cls)
        Exception.__init__(error, "something failed")
        vars(error).update(parameter=None, value=None, message="something failed", http_status=503)
        translated = from_engine_error(translate_vllm_error(error))
        if issubclass(cls, VLLMClientError):
            assert isinstance(translated, ClientError), cls
        elif issubclass(cls, GracefulHTTPError):
            assert isinstance(translated, EngineUnavailable), cls
        else:
            assert isinstance(translated, ServerError), cls


def test_greedy_sampling_with_several_choices_is_a_client_error() -> None:
    from vllm.exceptions import VLLMValidationError

    with pytest.raises(VLLMValidationError) as caught:
        to_sampling_params(SamplingOptions(temperature=0.0, n=2), stream=False)
    assert isinstance(translate_vllm_error(caught.value), RequestRejected)


def test_an_engine_error_raised_inside_generate_keeps_its_meaning() -> None:
    aborted = EngineDown("The engine stopped this request (it is shutting down or paused).")
    assert translate_vllm_error(aborted) is aborted  # a 503 to retry, not "the engine failed"
