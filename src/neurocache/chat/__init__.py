"""Conversations: retrieval-augmented answers with citations, streamed; forks; memory."""
