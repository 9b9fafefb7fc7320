"""The plain content chunks a stream writes from its template are what the wire models would have written."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway import protocol as wire
from gateway.chat_answers import ChunkTemplate


def dumped(chunk_id: str, created: int, model: str, index: int, text: str) -> str:
    choice = wire.ChunkChoice(index=index, delta=wire.Delta(content=text))
    return wire.ChatCompletionChunk(id=chunk_id, created=created, model=model, choices=[choice]).model_dump_json()


# Any text a detokenizer can give (no lone surrogates: they are not UTF-8), and model names a person might serve.
@given(
    text=st.text(st.characters(exclude_categories=["Cs"]), min_size=1),
    model=st.sampled_from(["hunyuan-ocr", 'a "quoted" name', "模型/ocr", "\x00\n\u2028"]),
    index=st.integers(0, 3),
)
def test_a_template_chunk_is_byte_for_byte_the_models_json(text: str, model: str, index: int) -> None:
    template = ChunkTemplate("chatcmpl-abc", 1765000000, model)
    assert template.content(index, text) == dumped("chatcmpl-abc", 1765000000, model, index, text)


def test_each_choice_gets_its_own_template_and_keeps_it() -> None:
    template = ChunkTemplate("chatcmpl-abc", 1, "m")
    for index, text in [(0, "a"), (1, "b"), (0, "c\n")]:
        assert template.content(index, text) == dumped("chatcmpl-abc", 1, "m", index, text)
