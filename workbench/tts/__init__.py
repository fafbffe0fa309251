"""TTS: Kokoro synthesis with timings, phonemization, voice inspection, round trip, parity and quality checks."""
