"""Who may do what: API keys, people, pairing, the owner's token, and who may see a memory."""
