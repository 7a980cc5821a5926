"""The Python helpers of scripts/cluster.sh (scripts/lib/*.py), run as the script runs them: as
programs, with arguments and standard input. No root, network or cluster needed."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

LIB = Path(__file__).resolve().parents[2] / "scripts" / "lib"
TEMPLATES = LIB.parent / "cluster"


def run(program: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(LIB / program), *args], input=stdin, capture_output=True, text=True, timeout=30
    )


# --- render_template.py ----------------------------------------------------------------------


def test_a_template_gets_exactly_the_values_given(tmp_path):
    template = tmp_path / "t.yaml"
    template.write_text("server: https://127.0.0.1:${PORT}\nprice: $$5\n")
    out = tmp_path / "out.yaml"
    done = run("render_template.py", str(template), str(out), "PORT=16402")
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "server: https://127.0.0.1:16402\nprice: $5\n"
    assert not (tmp_path / "out.yaml.tmp").exists()


def test_a_placeholder_without_a_value_is_an_error_and_writes_nothing(tmp_path):
    template = tmp_path / "t.yaml"
    template.write_text("root: ${DATA}/x\nport: ${PORT}\n")
    out = tmp_path / "out.yaml"
    done = run("render_template.py", str(template), str(out), "PORT=1")
    assert done.returncode == 1
    assert "uses ${DATA}, which was not given" in done.stderr
    assert not out.exists()


def test_the_cluster_kubeconfig_template_renders_to_stdout():
    done = run(
        "render_template.py",
        str(TEMPLATES / "kubeconfig.yaml"),
        "-",
        "APISERVER_PORT=16402",
        "PKI=/d/pki",
        "USER_NAME=system:kube-scheduler",
        "CERT_NAME=scheduler",
    )
    assert done.returncode == 0, done.stderr
    assert "    server: https://127.0.0.1:16402\n" in done.stdout
    assert "    client-certificate: /d/pki/scheduler.crt\n" in done.stdout
    assert "- name: system:kube-scheduler\n" in done.stdout
    assert "$" not in done.stdout


# --- cluster_network.py ----------------------------------------------------------------------

ADDRESSES_AND_ROUTES = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.0.5.7/24 brd 10.0.5.255 scope global eth0\\       valid_lft forever preferred_lft forever
7: mskbr0    inet 10.213.0.1/24 brd 10.213.0.255 scope global mskbr0\\       valid_lft forever preferred_lft forever
ROUTES
default via 10.0.5.1 dev eth0
10.0.5.0/24 dev eth0 proto kernel scope link src 10.0.5.7
10.213.0.0/24 dev mskbr0 proto kernel scope link src 10.213.0.1
local 10.214.0.9 dev eth0 table local proto kernel scope host src 10.214.0.9
"""


def test_the_nth_address_of_a_range():
    assert run("cluster_network.py", "address", "10.213.0.0/24", "1").stdout == "10.213.0.1\n"


def test_ranges_overlapping_the_machine_are_reported_except_on_the_cluster_bridge():
    done = run("cluster_network.py", "overlaps", "10.213.0.0/24", "10.214.0.0/24", "mskbr0", stdin=ADDRESSES_AND_ROUTES)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "the Service range 10.214.0.0/24 overlaps 10.214.0.9/32 on this machine: "
        "local 10.214.0.9 dev eth0 table local proto kernel scope host src 10.214.0.9"
    ]


def test_free_ranges_print_nothing_and_overlapping_own_ranges_are_refused():
    free = run("cluster_network.py", "overlaps", "10.213.0.0/24", "10.215.0.0/24", "mskbr0", stdin=ADDRESSES_AND_ROUTES)
    assert free.stdout == ""
    clash = run("cluster_network.py", "overlaps", "10.213.0.0/24", "10.213.0.128/25", "mskbr0", stdin="")
    assert clash.stdout == "the pod range 10.213.0.0/24 and the Service range 10.213.0.128/25 overlap\n"


# --- iptables_sweep.py -----------------------------------------------------------------------

BEFORE = """\
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:DOCKER - [0:0]
-A FORWARD -j DOCKER
COMMIT
"""
AFTER = """\
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:DOCKER - [0:0]
:KUBE-FORWARD - [0:0]
-A FORWARD -j DOCKER
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A KUBE-FORWARD -j ACCEPT
-A FORWARD -i mskbr0 -j ACCEPT
-A INPUT -s 192.168.9.0/24 -j ACCEPT
COMMIT
*nat
:POSTROUTING ACCEPT [0:0]
:CNI-1a2b - [0:0]
-A POSTROUTING -s 10.213.0.5/32 -j CNI-1a2b
COMMIT
"""


def test_the_sweep_removes_only_what_the_cluster_added(tmp_path):
    baseline = tmp_path / "iptables.rules"
    baseline.write_text(BEFORE)
    done = run("iptables_sweep.py", str(baseline), "10.213.0.0/24", "10.214.0.0/24", "mskbr0", stdin=AFTER)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "*filter",
        '-D FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        "-D FORWARD -i mskbr0 -j ACCEPT",
        "-F KUBE-FORWARD",
        "-X KUBE-FORWARD",
        "COMMIT",
        "*nat",
        "-D POSTROUTING -s 10.213.0.5/32 -j CNI-1a2b",
        "-F CNI-1a2b",
        "-X CNI-1a2b",
        "COMMIT",
    ]


def test_nothing_added_means_an_empty_script(tmp_path):
    baseline = tmp_path / "iptables.rules"
    baseline.write_text(BEFORE)
    assert run("iptables_sweep.py", str(baseline), "mskbr0", stdin=BEFORE).stdout.strip() == ""


# --- docker_archive.py -----------------------------------------------------------------------


def member_bytes(archive: tarfile.TarFile, name: str | tarfile.TarInfo) -> bytes:
    member = archive.extractfile(name)
    assert member is not None, f"{name} is not a file of the archive"
    return member.read()


def test_the_image_archive_holds_the_binary_as_its_entrypoint_and_is_reproducible(tmp_path):
    binary = tmp_path / "pause"
    binary.write_bytes(b"\x7fELF not really")
    first, second = tmp_path / "a.tar", tmp_path / "b.tar"
    for out in (first, second):
        done = run("docker_archive.py", str(binary), "modelstack.local/pause:1", "/pause", str(out))
        assert done.returncode == 0, done.stderr
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as archive:
        manifest = json.loads(member_bytes(archive, "manifest.json"))
        assert manifest[0]["RepoTags"] == ["modelstack.local/pause:1"]
        config = json.loads(member_bytes(archive, manifest[0]["Config"]))
        assert config["config"]["Entrypoint"] == ["/pause"]
        with tarfile.open(fileobj=io.BytesIO(member_bytes(archive, manifest[0]["Layers"][0]))) as layer:
            member = layer.getmember("pause")
            assert (member.mode, member.uid, member.mtime) == (0o755, 0, 0)
            assert member_bytes(layer, member) == b"\x7fELF not really"
