"""`harness node start|list|stop`: make this machine a node of a board fleet (a Ray cluster), and list the fleet.

A Ray cluster runs any code a client that reaches it sends: keep its ports on a trusted network only.
"""
from __future__ import annotations

from harness.core.units import print_json, print_table
from harness.core.errors import UsageError


def _option(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise UsageError(f"bad --device-option {text!r}: expected KEY=VALUE, e.g. tegrastats_cmd=/usr/bin/tegrastats")
    return key.strip(), value


def register(sub) -> None:
    p = sub.add_parser("node", help="join, list or leave a board fleet (Ray cluster)",
                       description="Thin wrappers over `ray start`/`ray stop` that advertise this node's harness "
                                   "identity (board name, device profile, harness version) as Ray resources. "
                                   "Ray has no authentication: bind the head to an address of a trusted network "
                                   "only.")
    nsub = p.add_subparsers(dest="node_command", metavar="ACTION")
    s = nsub.add_parser("start", help="start the head (--head) or join a head (--address) as a board")
    s.add_argument("--head", action="store_true", help="start the cluster's head node here")
    s.add_argument("--address", metavar="HOST:PORT", help="the head to join")
    s.add_argument("--host", metavar="IP", help="address this node binds to and advertises "
                   "(head default 127.0.0.1: give the trusted-network address boards reach it on)")
    s.add_argument("--port", type=int, default=6379, help="head only: the cluster port (default 6379)")
    s.add_argument("--board", help="board name this node advertises (default: host name; the head is a board "
                   "only when given)")
    s.add_argument("--device", default="auto", help="device profile the board benches with "
                   "(default auto: jetson, nvidia-gpu, then cpu, the first present)")
    s.add_argument("--device-root", metavar="DIR", help="filesystem root the device profile reads (default /)")
    s.add_argument("--device-option", action="append", default=[], metavar="KEY=VALUE",
                   help="device profile option, e.g. tegrastats_cmd=/usr/bin/tegrastats; repeatable")
    s.add_argument("--scratch", metavar="DIR", help="where the board keeps the variants it is sent (default tmp)")
    s.add_argument("--num-cpus", type=int, help="CPUs Ray may schedule here (default: all)")
    s.set_defaults(func=start)
    ls = nsub.add_parser("list", help="the fleet: board, device, host, alive, harness version mismatch")
    ls.add_argument("--address", required=True, metavar="HOST:PORT", help="the head")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=list_)
    st = nsub.add_parser("stop", help="stop Ray on this machine (`ray stop`: every Ray process of this host)")
    st.set_defaults(func=stop)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def start(args) -> int:
    from harness.fleet.node import NodeStartConfig, start as start_node

    config = NodeStartConfig(
        head=args.head, address=args.address, host=args.host, port=args.port, board=args.board,
        device=args.device, device_root=args.device_root,
        device_options=dict(_option(o) for o in args.device_option), scratch=args.scratch, num_cpus=args.num_cpus)
    start_node(config)
    if args.head:
        print(f"head started on {args.host or '127.0.0.1'}:{args.port}; boards join with "
              f"`harness node start --address {args.host or '127.0.0.1'}:{args.port} --board NAME`")
    else:
        print(f"joined {args.address}")
    return 0


def list_(args) -> int:
    from harness import __version__
    from harness.fleet.node import list_nodes

    rows = list_nodes(args.address)
    if args.json:
        print_json({"head_version": __version__, "nodes": rows})
        return 0
    for r in rows:
        r["alive"] = "yes" if r["alive"] else "no"
        r["mismatch"] = r["mismatch"] or ""
    print_table(rows, ["board", "device", "host", "alive", "harness_version", "mismatch"],
                ["board", "device", "host", "alive", "harness", "version mismatch"])
    return 1 if any(r["mismatch"] for r in rows) else 0


def stop(args) -> int:
    from harness.fleet.node import stop as stop_node

    stop_node()
    print("Ray stopped on this machine")
    return 0
