"""The trading rules: symbols, lots and ticks, price types and order states, the calendar's facts, routines and the
risk gate's arithmetic. Pure: no Redis, no I/O, no clock but one passed in; they import nothing of the layers above."""
