"""modelstack's scoring server: azmlinfsrv's contract for Azure ML entry scripts (init()/run()),
with modelstack's front (key auth, CORS, body limit, TLS), on uvicorn with keep-alive, and
limits no client can get around. Self-contained: imports nothing from modelstack's `components`.

    python -m modelstack_server --entry_script score.py --port 5001

Modules by concern: contract (what the program that deploys the image relies on: port, routes,
environment variables, key files, labels; the program imports it too), settings (the
environment, validated), keys (key auth), tokens (token auth), cors, tls, request_ids,
entry_script (loading, run()'s arguments), scoring (one run() at a time, timeout), swagger,
log_capture, app (the routes), peers (a busy worker's requests to an idle one), server (flags,
uvicorn, workers). azmlinfsrv_front is the other server an image can run: azmlinfsrv behind
the same key, CORS and settings code, with none of this server's dependencies.
"""

__version__ = "1.0.0"
