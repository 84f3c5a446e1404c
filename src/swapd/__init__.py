"""swapd: owns llama-server on Machine A and hot-swaps model tiers behind one OpenAI-compatible endpoint."""
