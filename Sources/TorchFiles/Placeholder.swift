// Placeholder; replaced by the TorchFiles sources.
