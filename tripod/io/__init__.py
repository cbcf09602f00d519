"""Foundations that every layer may use: checkpoint files (safetensors + JSON, the trust model,
safe replacement), gymnasium spaces as JSON, and seeding / RNG scopes. Imports nothing else of tripod."""
