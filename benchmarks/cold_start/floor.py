"""The least any scoring server could take to become Healthy: no server at all.

Run in the service's own image by benchmarks/scoring_server_containers.py. It loads the entry
script and calls its init() (unless --no-script), then answers every connection on port 5001 with
200 from a bare socket: container start, the interpreter and the script's own imports and init()
are all that is timed. Standard library only.
"""

import importlib.util
import socket
import sys

if "--no-script" not in sys.argv:
    path = sys.argv[1]
    spec = importlib.util.spec_from_file_location("entry_script", path)
    assert spec is not None and spec.loader is not None, f"{path} is not a Python file"
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.init()

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", 5001))
listener.listen()
while True:
    connection, _ = listener.accept()
    connection.recv(65536)
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    connection.close()
