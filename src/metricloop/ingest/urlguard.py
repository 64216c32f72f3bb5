"""Refuse HTTP load sources that point inside the server's network (SSRF).

An editor who can start a load through the API must not make the server fetch its own loopback
services, the private network or the cloud metadata address (169.254.169.254). The check runs in
the HTTP transport, so it applies to every redirect hop; the host is resolved once and the
connection goes to the address that was checked (no second lookup an attacker's DNS could change).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import httpx

from metricloop.errors import IngestError, Location
from metricloop.ingest.types import short


def _blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Anything that is not a public unicast address: loopback, private, link-local, CGNAT, ..."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _blocked(ip.ipv4_mapped)
    if isinstance(ip, ipaddress.IPv6Address) and ip.sixtofour is not None:
        return _blocked(ip.sixtofour)
    return not ip.is_global or ip.is_multicast


def _refuse(host: str, why: str) -> IngestError:
    shown = short(host, 200)
    return IngestError(
        f"{shown} {why}; loads from the server's own or private network are off "
        "(set 'ingest: {allow_private_urls: true}' in metricloop.yaml to allow them)",
        zh=f"{shown} {'是内部地址' if 'resolves' not in why else '解析到内部地址'}；默认不允许从服务器本机或内网加载"
           "（在 metricloop.yaml 中设置 'ingest: {allow_private_urls: true}' 可允许）",
        location=Location(field="source"),
    )


def resolve_public(host: str, port: int) -> str:
    """The one address to connect to for ``host``; refuses when any address it has is internal."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        if _blocked(literal):
            raise _refuse(host, "is an internal address")
        return str(literal)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise IngestError(f"cannot resolve host {short(host, 200)}", zh=f"无法解析主机 {short(host, 200)}",
                          location=Location(field="source")) from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    bad = next((a for a in addresses if _blocked(a)), None)
    if bad is not None or not addresses:
        raise _refuse(host, f"resolves to an internal address ({bad})")
    return str(addresses[0])


class PublicOnlyTransport(httpx.BaseTransport):
    """An httpx transport that connects only to public addresses, checked on every request."""

    def __init__(self, **kwargs: Any) -> None:
        self._inner = httpx.HTTPTransport(**kwargs)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        ip = resolve_public(host, port)
        if ip != host.strip("[]"):
            # Connect to the checked address; Host header and TLS name stay the original host.
            request.url = request.url.copy_with(host=ip)
            if request.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": host}
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()
