"""The desk, the one way in: request -> door checks -> risk gate -> payloads -> enqueue, and the verdicts it answers
with. Every role places, cancels and queries through it."""
