"""A test gateway: finds an engine in ZooKeeper as Kyuubi does and sends the
real PySpark client to the endpoint it advertises. Run with the client's
venv python, inside the gateway's network namespace (test_cluster_hosts.py):

    python ns_gateway.py ZKHOST:ZKPORT NAMESPACE REFID TIMEOUT_S [SCENARIO ARGS...]

Polls the namespace's children once a second (Kyuubi's discovery) for a node
whose name has refId=REFID, reads host:port from its data, then runs one
real_client.py scenario (default `executor`) against sc://host:port. Prints
one JSON line: {"node", "host", "port", "result"} or {"fatal": ...}.
"""
import json
import os
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import real_client  # noqa: E402
from zkclient import ZkClient, nodes_with  # noqa: E402


def discover(zk_host, zk_port, namespace, ref, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            names = nodes_with(zk_port, namespace, "refId=%s" % ref, host=zk_host)
        except OSError:
            names = []
        if names:
            with ZkClient(zk_port, host=zk_host) as c:
                data, _ = c.get("%s/%s" % (namespace, names[0]))
            host, port = data.decode().split(":")
            return names[0], host, int(port)
        if time.monotonic() >= deadline:
            raise TimeoutError("no node with refId=%s under %s in %ss" % (ref, namespace, timeout))
        time.sleep(1.0)


def main():
    zk, namespace, ref, timeout = sys.argv[1:5]
    scenario = sys.argv[5] if len(sys.argv) > 5 else "executor"
    args = sys.argv[6:]
    zk_host, zk_port = zk.rsplit(":", 1)
    out = {}
    try:
        out["node"], out["host"], out["port"] = discover(zk_host, int(zk_port), namespace, ref,
                                                         float(timeout))
        # The client as its own program (its functions pickle by value).
        # A gateway sends the session as the engine's user (the USER share
        # level's user in the namespace), which the front door checks.
        parts = namespace.strip("/").split("/")
        user = parts[1] if len(parts) > 1 else ""
        url = "sc://%s:%d/;user_id=%s" % (out["host"], out["port"], user)
        p = subprocess.run([sys.executable, real_client.__file__, url, scenario] + args,
                           capture_output=True, text=True, timeout=float(timeout) + 120,
                           stdin=subprocess.DEVNULL)
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        out["result"] = json.loads(lines[-1]) if lines else None
        if not out["result"] or "fatal" in out["result"]:
            raise RuntimeError("client exited %d: %s\n%s" % (p.returncode, out["result"],
                                                            p.stderr[-3000:]))
    except BaseException as ex:  # noqa: BLE001 - reported to the test
        out["fatal"] = real_client.err_info(ex)
        out["tb"] = traceback.format_exc()[-3000:]
    sys.stdout.write(json.dumps(out, default=str) + "\n")
    return 1 if "fatal" in out else 0


if __name__ == "__main__":
    sys.exit(main())
