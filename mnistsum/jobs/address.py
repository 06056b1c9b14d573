"""Which client address a request came from, for the per-address bound on runs.

The TCP peer is the only address a client cannot choose. Behind a reverse proxy (a Hugging
Face Space, nginx) every peer is the proxy, and the visitor's address is in the
`X-Forwarded-For` header that the proxy appends to -- but a client can send that header
too, with any addresses in it. So the header is read only when the deployment says how many
proxies it trusts (`proxy_hops`), and then only the entry the outermost trusted proxy wrote:
the `proxy_hops`-th from the right. Anything a client prepended stays to its left, unread.
"""

from __future__ import annotations

import ipaddress

UNKNOWN = "unknown"


def client_address(peer: str | None, forwarded_for: str | None = None, proxy_hops: int = 0) -> str:
    """The address runs are counted against: the TCP `peer`, or with `proxy_hops` trusted proxies
    in front, the address the outermost of them saw (`forwarded_for` is the X-Forwarded-For
    header, all its values joined by commas). Too few entries (a request that came around the
    proxies) falls back to the peer. IPv6 clients count per /64, the block one home or school gets."""
    address = peer or UNKNOWN
    if proxy_hops > 0 and forwarded_for:
        hops = [entry.strip() for entry in forwarded_for.split(",") if entry.strip()]
        if len(hops) >= proxy_hops:
            address = hops[-proxy_hops]
    return _normalized(address)


def _normalized(address: str) -> str:
    """One spelling per client: IPv4-mapped IPv6 as IPv4, IPv6 as its /64 network, names kept as given."""
    host = address.strip()
    if host.startswith("[") and "]" in host:  # [v6]:port
        host = host[1 : host.index("]")]
    elif host.count(":") == 1:  # v4:port
        host = host.split(":")[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:64] or UNKNOWN
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
