"""A Hugging Face hub cache holding one small tokenizer, laid out as ``hf download`` leaves it (``models--ORG--NAME``
with ``refs/main`` naming its snapshot): what a server that downloads nothing finds on a machine prepared offline."""

from __future__ import annotations

from pathlib import Path

# A word-level vocabulary: every word its own token, so a chunk's token count is its word count.
WORDS = "service report hydraulic pressure within limits widget sales by region the of and a to in".split()


def cache_with_tokenizer(cache: Path, repo_id: str, *, max_seq_length: int | None = None) -> Path:
    """``cache`` holding a word-level tokenizer as ``repo_id`` (and a ``sentence_bert_config.json`` with
    ``max_seq_length``, as sentence-transformers models ship one); returns ``cache``."""
    import json

    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocabulary = {word: index for index, word in enumerate(["[UNK]", *WORDS])}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]").save_pretrained(snapshot)
    if max_seq_length is not None:
        (snapshot / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq_length}))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(snapshot.name)
    return cache
