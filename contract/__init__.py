"""What the gateway and the worker agree on: every shape that crosses a process boundary.

One module per concern, each importing nothing heavy (the gateway stays free of the model
stack):
- `http`: the HTTP request and response shapes.
- `cache_keys`: the cache-key rule, with canonical rounding.
- `jobs`: the job record in Redis, its id format and its lifetime.
- `tasks`: the predict task's name and payload.
- `messages`: the done channel and its messages.
- `model`: the model announcement and its metadata.
- `scripts` and `lua/`: the Lua scripts both services run in Redis, and their arguments.
- `broker`: how both reach the Celery broker.
- `settings`: the settings both services share.
"""
