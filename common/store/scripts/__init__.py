"""Every Lua script the router runs, each beside the Python function that runs it (redis-py's Script: EVALSHA, loaded
again after a Redis restart, one registration per connection: common.store.connections.script).

- enqueue: the one round trip that queues jobs (all or none), and the requeue of a job that exists;
- counters: the per-account action counters of the rate caps (run inside the enqueue script too);
- fences: token-held keys: the worker's terminal lease, the scheduler's leadership, the check before a send;
- rate_window: a sliding-window budget by Redis's clock (DingTalk's 20 messages a minute).
"""
