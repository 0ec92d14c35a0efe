"""A local embedded Ray (``--backend rllib`` without ``--address``) listens on
127.0.0.1 only and starts no dashboard: checked on the listening sockets of every
process of a running session (GCS, raylet, agents, the driver, workers, an env
runner), read from ``/proc`` (Linux).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray.rllib", reason="the rllib backend needs ray[rllib]")
if not sys.platform.startswith("linux"):  # pragma: no cover
    pytest.skip("reads sockets from /proc", allow_module_level=True)

from agents import rllib as ar  # noqa: E402
from agents.spec import PPOConfig, RLlibOptions, TrainSpec  # noqa: E402


def _decode(hex_addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address of ``/proc/net/{tcp,udp}{,6}`` (little-endian 32-bit words)."""
    words = [hex_addr[i : i + 8] for i in range(0, len(hex_addr), 8)]
    raw = b"".join(bytes.fromhex(w)[::-1] for w in words)
    return ipaddress.ip_address(raw)


def _bound_sockets() -> dict[int, tuple[str, object, int]]:
    """``inode -> (protocol, address, port)`` of listening TCP and bound UDP
    sockets of this machine."""
    out = {}
    for proto, listening in (
        ("tcp", "0A"),
        ("tcp6", "0A"),
        ("udp", "07"),
        ("udp6", "07"),
    ):
        path = Path("/proc/net") / proto
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if state == listening:
                host, port = local.split(":")
                out[inode] = (proto, _decode(host), int(port, 16))
    return out


def _descendants(roots: set[int]) -> set[int]:
    children: dict[int, set[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, set()).add(int(entry))
    seen, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, ()))
    return seen


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(int(link[8:-1]))
    return inodes


def _session_listeners(ray) -> list[tuple[int, str, object, int]]:
    """``(pid, protocol, address, port)`` of every socket the session listens on."""
    node = ray._private.worker._global_node
    roots = {p.process.pid for infos in node.all_processes.values() for p in infos}
    pids = _descendants(roots | {os.getpid()})
    bound = _bound_sockets()
    return [
        (pid, *bound[inode])
        for pid in sorted(pids)
        for inode in _socket_inodes(pid)
        if inode in bound
    ]


def _is_loopback(address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def test_local_ray_listens_on_loopback_only_without_a_dashboard():
    import ray

    os.environ["OMP_NUM_THREADS"] = "1"
    ar.init_ray(num_cpus=2)
    try:
        spec = TrainSpec(
            ppo=PPOConfig(num_envs=8, num_steps=2, num_minibatches=1, update_epochs=1)
        )
        options = RLlibOptions(
            num_env_runners=1,  # a remote actor: a worker process of its own
            num_envs_per_env_runner=8,
        )
        algo = ar.build_config(spec, options).build_algo()
        try:
            algo.train()
            listeners = _session_listeners(ray)
        finally:
            algo.stop()
        assert ray._private.worker._global_node.node_ip_address == "127.0.0.1"
        assert listeners, "found no listening socket of the Ray session"
        exposed = [entry for entry in listeners if not _is_loopback(entry[2])]
        assert not exposed, f"Ray processes listen beyond 127.0.0.1: {exposed}"
        assert not any(port == 8265 for *_, port in listeners)  # no dashboard
        assert not ray._private.worker._global_node.webui_url
    finally:
        ray.shutdown()


def test_the_decoder_reads_proc_addresses():
    assert str(_decode("0100007F")) == "127.0.0.1"
    assert str(_decode("00000000")) == "0.0.0.0"
    assert _decode("00000000000000000000000000000000").is_unspecified
    assert _is_loopback(_decode("0000000000000000FFFF00000100007F"))  # ::ffff:127.0.0.1
    assert not _is_loopback(_decode("0000000000000000FFFF00000202A8C0"))
