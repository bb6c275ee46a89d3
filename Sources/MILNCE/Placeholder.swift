// Placeholder; replaced by the MILNCE sources.
