"""Media in requests: data URLs and guarded image fetches (``fetch``), decoding and sizing images for the model
(``loader``), and PDF pages rendered in a resource-limited child process (``pdf``, ``pdf_worker``). Empty on
purpose: the PDF child imports ``pdf_worker`` alone, and starts faster without the rest."""
