"""Cloud adapters, one package each, with their local emulators."""
