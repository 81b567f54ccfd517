"""Knowledge: loaders → splitter → embed → index, as persistent background jobs."""
