"""Search: full-text (SQLite FTS5, BM25), vectors (FAISS, a cache of the store), hybrid."""
