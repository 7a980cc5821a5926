"""A docker-archive tarball (what `docker save` writes) of one static binary, for containerd.

    docker_archive.py BINARY TAG ENTRY OUT

The image has a single layer holding BINARY at ENTRY (owned by root, mode 0755, mtime 0) and
ENTRY as its entrypoint; scripts/cluster.sh makes the pod sandbox (pause) image with it, since
nothing may be pulled from a registry. The same binary gives the same archive.
"""

import hashlib
import io
import json
import os
import sys
import tarfile

# Go's names for the machine architectures (what an image config's "architecture" holds)
GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def layer_of(binary: str, entry: str) -> bytes:
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tar.gettarinfo(binary, arcname=entry.lstrip("/"))
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        info.mode = 0o755
        with open(binary, "rb") as f:
            tar.addfile(info, f)
    return layer.getvalue()


def write_archive(binary: str, tag: str, entry: str, out: str) -> None:
    layer_bytes = layer_of(binary, entry)
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    machine = os.uname().machine
    config = {
        "architecture": GO_ARCH.get(machine, machine),
        "os": "linux",
        "config": {"Entrypoint": [entry]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "modelstack scripts/cluster.sh"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id.split(":")[1] + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]
    members = (
        (config_name, config_bytes),
        (layer_name, layer_bytes),
        ("manifest.json", json.dumps(manifest).encode()),
    )
    with tarfile.open(out, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        print("usage: docker_archive.py BINARY TAG ENTRY OUT", file=sys.stderr)
        sys.exit(2)
    write_archive(*sys.argv[1:5])
