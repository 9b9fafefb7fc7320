"""The Batch API's worker: batch requests from the job store (``gateway.jobstore``) through the chat service."""
