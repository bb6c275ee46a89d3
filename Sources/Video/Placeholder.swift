// Placeholder; replaced by the Video sources.
