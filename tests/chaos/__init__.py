"""`python run.py chaos`: the fault-injection run (not part of the test suite)."""
