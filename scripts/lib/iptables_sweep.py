"""The iptables-restore script that removes what the test cluster added to the firewall.

    iptables-save | iptables_sweep.py BASELINE MARK...   (prints the script; nothing to remove: empty)

BASELINE is `iptables-save` (or ip6tables-save) output recorded before the cluster's first start
(missing: no baseline). A chain is removed (-F, -X) when it is new and is kube-proxy's or the
kubelet's (KUBE-*) or the CNI plugins' (CNI-*); a rule (-D) when it is new, is not in such a
chain, and jumps to one of those chains or names one of the MARKs (the cluster's ranges, its
bridge, its CNI network). Whatever was there before, or is someone else's, stays.
"""

import re
import sys
from collections.abc import Iterable

OUR_CHAIN = re.compile(r"^(KUBE-|CNI-)")
JUMP_TO_OURS = re.compile(r"-j (KUBE-|CNI-)")


def parse(lines: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    """table -> its chains and its rules (each rule without the leading `-A `)."""
    tables: dict[str, dict[str, list[str]]] = {}
    table = None
    for line in lines:
        line = line.rstrip("\n")
        if line.startswith("*"):
            table = line[1:]
            tables[table] = {"chains": [], "rules": []}
        elif line.startswith(":") and table:
            tables[table]["chains"].append(line[1:].split()[0])
        elif line.startswith("-A ") and table:
            tables[table]["rules"].append(line[3:])
    return tables


def sweep(base: dict, now: dict, marks: list[str]) -> list[str]:
    out: list[str] = []
    for table, current in now.items():
        before = base.get(table, {"chains": [], "rules": []})
        new_chains = [c for c in current["chains"] if c not in before["chains"] and OUR_CHAIN.match(c)]
        deletes = []
        for rule in current["rules"]:
            chain = rule.split()[0]
            if rule in before["rules"] or chain in new_chains:
                continue
            if JUMP_TO_OURS.search(rule) or any(mark in rule for mark in marks):
                deletes.append(rule)
        if not new_chains and not deletes:
            continue
        out.append("*" + table)
        out += ["-D " + rule for rule in deletes]
        out += ["-F " + chain for chain in new_chains]
        out += ["-X " + chain for chain in new_chains]
        out.append("COMMIT")
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(argv[0]) as f:
            base = parse(f)
    except OSError:
        base = {}
    print("\n".join(sweep(base, parse(sys.stdin), argv[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
