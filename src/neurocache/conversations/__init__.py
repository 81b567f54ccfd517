"""Conversations: a person's chats with the hub's model, with citations, forks and long-
term memory."""
