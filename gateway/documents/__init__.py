"""Documents out: a page's answers from the model → a DoclingDocument (docling-core) → the formats people keep.

One page's document-parsing answer (Markdown with HTML tables and LaTeX, or 1.5's layout forms) is read into
typed blocks (``blocks``, ``markdown``, ``answers``); the spotting answer's lines give those blocks boxes
(``align``); ``build`` writes the pages into a ``DoclingDocument`` with page/box provenance; ``exports`` turns it
into Markdown, HTML, plain text, DocTags, its JSON and RAG chunks, all through docling-core's own serializers.
"""
