"""modelstack's scoring server: azmlinfsrv's contract for Azure ML entry scripts (init()/run()),
with modelstack's front (key auth, CORS, body limit, TLS), on uvicorn with keep-alive, and
limits no client can get around. Self-contained: imports nothing from modelstack's `components`.

    python -m modelstack_server --entry_script score.py --port 5001

Modules by concern: settings (the environment, validated), keys (key auth), cors, request_ids,
entry_script (loading, run()'s arguments), scoring (one run() at a time, timeout), swagger,
log_capture, app (the routes), peers (a busy worker's requests to an idle one), server (flags,
uvicorn, workers).
"""

__version__ = "1.0.0"
