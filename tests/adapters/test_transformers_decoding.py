"""The transformers engine's per-row decoding rules: streamed text, stop strings, penalties, batch padding."""

from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerFast

from adapters.transformers_decoding import IncrementalText, Penalties, Row, RowRules, left_pad

CHARACTERS = "abcdefghij"


def character_tokenizer() -> PreTrainedTokenizerFast:
    """One token per character (like the tiny checkpoint's), plus a byte-level half for UTF-8 tests."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    backend = Tokenizer(models.WordLevel(vocab={c: i for i, c in enumerate(CHARACTERS)}, unk_token="a"))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=backend)


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level vocabulary: a character outside ASCII takes several tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    backend = Tokenizer(models.BPE(vocab={symbol: i for i, symbol in enumerate(sorted(alphabet))}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=backend)


def row(**rules: object) -> Row:
    return Row(RowRules(**{"max_tokens": 100, **rules}), 0, IncrementalText(character_tokenizer()))  # type: ignore[arg-type]


def feed(target: Row, text: str) -> list[str]:
    """Advance ``target`` one character-token at a time; what it hands out after each."""
    pieces = []
    for character in text:
        target.advance(CHARACTERS.index(character))
        pieces.append(target.take_text())
        if target.finish_reason:
            break
    return pieces


def test_half_a_utf8_character_is_held_back_until_complete() -> None:
    tokenizer = byte_tokenizer()
    text = IncrementalText(tokenizer)
    ids = tokenizer.encode("aé€b", add_special_tokens=False)
    assert len(ids) == 1 + 2 + 3 + 1
    assert [text.add(token) for token in ids] == ["a", "", "é", "", "", "€", "b"]


def test_stop_string_ends_the_row_and_is_not_part_of_the_answer() -> None:
    target = row(stop=("cde",))
    # Like vLLM, the last len(stop) - 1 characters wait: they could be the start of the stop string.
    assert feed(target, "abcdefg") == ["", "", "a", "b", ""]
    assert (target.output, target.finish_reason, target.tokens) == ("ab", "stop", 5)


def test_held_back_text_comes_out_when_the_row_ends_otherwise() -> None:
    target = row(stop=("cde",), max_tokens=5)
    assert feed(target, "abcdfg") == ["", "", "a", "b", "cdf"]
    assert target.finish_reason == "length"


def test_earliest_stop_string_wins() -> None:
    target = row(stop=("fg", "cdef"))
    feed(target, "abcdefgh")
    assert (target.output, target.finish_reason) == ("ab", "stop")


def test_stop_token_ends_the_row_without_text_but_counts_as_a_token() -> None:
    target = row(stop_token_ids=frozenset({CHARACTERS.index("c")}))
    assert feed(target, "abcd") == ["a", "b", ""]
    assert (target.output, target.finish_reason, target.tokens) == ("ab", "stop", 3)


def test_max_tokens_ends_the_row_with_length() -> None:
    target = row(max_tokens=3, stop=("zz",))
    assert "".join(feed(target, "abcdef")) == "abc"  # the held-back tail comes out at the end
    assert target.finish_reason == "length"


def test_penalties_match_vllms_definition() -> None:
    from vllm.model_executor.layers.utils import apply_penalties

    torch.manual_seed(0)
    vocab, logits = 12, torch.randn(3, 12)
    prompts = torch.tensor([[0, 5, 5, 7], [0, 0, 2, 3], [1, 1, 1, 1]])  # left-padded with 0 where masked
    mask = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1], [1, 1, 1, 1]])
    outputs = torch.tensor([[4, 4, 9], [3, 6, 6], [11, 0, 1]])
    rules = [
        RowRules(10, repetition_penalty=1.3, presence_penalty=0.5, frequency_penalty=0.2),
        RowRules(10, repetition_penalty=0.8),
        RowRules(10, frequency_penalty=-0.4),
    ]
    ours = Penalties(rules, prompts, mask)(torch.cat([prompts, outputs], dim=1), logits.clone())
    vllm_prompts = prompts.masked_fill(mask == 0, vocab)  # vLLM pads with vocab_size
    theirs = apply_penalties(
        logits.clone(),
        vllm_prompts,
        outputs,
        torch.tensor([r.presence_penalty for r in rules]),
        torch.tensor([r.frequency_penalty for r in rules]),
        torch.tensor([r.repetition_penalty for r in rules]),
    )
    torch.testing.assert_close(ours, theirs)


def test_left_pad_aligns_prompts_right_and_keeps_images_in_row_order() -> None:
    short = {
        "input_ids": torch.tensor([[5, 6]]),
        "attention_mask": torch.ones(1, 2, dtype=torch.long),
        "mm_token_type_ids": torch.tensor([[0, 1]]),
        "pixel_values": torch.full((4, 3), 1.0),
        "image_grid_thw": torch.tensor([[1, 2, 2]]),
    }
    text_only = {
        "input_ids": torch.tensor([[7, 8, 9]]),
        "attention_mask": torch.ones(1, 3, dtype=torch.long),
        "mm_token_type_ids": torch.zeros(1, 3, dtype=torch.long),
    }
    other = {**short, "pixel_values": torch.full((4, 3), 2.0), "image_grid_thw": torch.tensor([[1, 4, 1]])}
    batch = left_pad([short, text_only, other], pad_token_id=0)
    assert batch["input_ids"].tolist() == [[0, 5, 6], [7, 8, 9], [0, 5, 6]]
    assert batch["attention_mask"].tolist() == [[0, 1, 1], [1, 1, 1], [0, 1, 1]]
    assert batch["mm_token_type_ids"].tolist() == [[0, 0, 1], [0, 0, 0], [0, 0, 1]]
    assert batch["pixel_values"][:, 0].tolist() == [1.0] * 4 + [2.0] * 4
    assert batch["image_grid_thw"].tolist() == [[1, 2, 2], [1, 4, 1]]
