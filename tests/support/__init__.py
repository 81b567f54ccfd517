"""Things the tests build or serve: a tiny GGUF model, a faulty file server."""
