"""The prompt adapter renders turns with the checkpoint's own HunyuanOCR template."""

from __future__ import annotations

import pytest

from adapters.engine import Turn
from adapters.errors import RequestRejected
from adapters.hunyuan_prompt import HunyuanPromptBuilder
from tests.images import make_image
from tests.tiny_checkpoint import ASSISTANT, BOS, END_OF_SYSTEM, EOS, IMAGE, IMAGE_END, IMAGE_START, USER

WRAPPED_IMAGE = IMAGE_START + IMAGE + IMAGE_END


def test_an_empty_system_message_is_added_like_the_official_clients_do(prompts: HunyuanPromptBuilder) -> None:
    prompt = prompts.build([Turn("user", ["hi"])])
    assert prompt.text == f"{BOS}{END_OF_SYSTEM}hi{USER}"


def test_images_become_wrapped_image_tokens_in_order(prompts: HunyuanPromptBuilder) -> None:
    first, second = make_image(10, 10, seed=1), make_image(20, 20, seed=2)
    prompt = prompts.build([Turn("system", ["sys"]), Turn("user", ["a", first, "b", second])])
    assert prompt.text == f"{BOS}sys{END_OF_SYSTEM}a{WRAPPED_IMAGE}b{WRAPPED_IMAGE}{USER}"
    assert prompt.images == [first, second]


def test_assistant_turns_end_with_the_assistant_marker(prompts: HunyuanPromptBuilder) -> None:
    prompt = prompts.build([Turn("user", ["q"]), Turn("assistant", ["a"]), Turn("user", ["q2"])])
    assert prompt.text.endswith(f"q{USER}a{ASSISTANT}q2{USER}")


def test_both_turn_end_tokens_stop_generation(prompts: HunyuanPromptBuilder) -> None:
    vocab = prompts._processor.tokenizer.get_vocab()
    assert prompts.stop_token_ids == sorted([vocab[ASSISTANT], vocab[EOS]])


@pytest.mark.parametrize("token", [USER, ASSISTANT, IMAGE, BOS])
def test_control_tokens_in_user_text_are_rejected_naming_the_message(prompts: HunyuanPromptBuilder, token: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        prompts.build([Turn("user", ["fine"]), Turn("assistant", ["ok"]), Turn("user", [f"x{token}y"])])
    assert caught.value.param == "messages[2].content"
