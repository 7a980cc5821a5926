"""Address arithmetic and range checks of scripts/cluster.sh (IPv4).

cluster_network.py address CIDR N
    print the N-th address of CIDR (N=1: the first host address)
cluster_network.py overlaps POD_CIDR SERVICE_CIDR BRIDGE  < ip-output
    read `ip -o -4 addr show`, a line `ROUTES`, then `ip -4 route show table all`, and print
    one line per overlap of the pod or Service range with an address or route of this
    machine (lines naming BRIDGE, the cluster's own bridge, are skipped); nothing when free
"""

import ipaddress
import sys
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# route types `ip route` prints before the destination
ROUTE_TYPES = (
    "local",
    "broadcast",
    "unicast",
    "multicast",
    "blackhole",
    "unreachable",
    "prohibit",
    "throw",
)


def overlaps(
    pod: Network,
    svc: Network,
    bridge: str,
    lines: Iterable[str],
) -> list[str]:
    if pod.overlaps(svc):
        return [f"the pod range {pod} and the Service range {svc} overlap"]
    found = []
    routes = False
    for line in lines:
        if line.strip() == "ROUTES":
            routes = True
            continue
        words = line.split()
        if not words or bridge in words:
            continue
        if routes:
            dst = words[1] if words[0] in ROUTE_TYPES else words[0]
            if dst == "default":
                continue
        else:
            dst = words[3]
        try:
            net = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        for name, ours in (("pod", pod), ("Service", svc)):
            if net.overlaps(ours):
                found.append(f"the {name} range {ours} overlaps {net} on this machine: {line.strip()}")
    return found


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "address":
        print(ipaddress.ip_network(argv[1])[int(argv[2])])
        return 0
    if len(argv) == 4 and argv[0] == "overlaps":
        pod, svc = ipaddress.ip_network(argv[1]), ipaddress.ip_network(argv[2])
        for report in overlaps(pod, svc, argv[3], sys.stdin):
            print(report)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
