"""Bundle builders and a loopback HTTPS/WSS server for the TLS tests."""

from __future__ import annotations

import asyncio
import base64
import datetime
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import trustme
from aiohttp import WSMsgType, web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from websockets.asyncio.client import connect

# X509_AUX as `openssl x509 -trustout -addtrust serverAuth` appends it:
# SEQUENCE { SEQUENCE { OID 1.3.6.1.5.5.7.3.1 } } (14 bytes).
AUX_TRUST_SERVER_AUTH = bytes.fromhex("300c300a06082b06010505070301")

HINT = (
    "If you set REALTALK_CA_CERTIFICATE or SSL_CERT_FILE, ensure it points to a PEM file "
    "containing one or more CERTIFICATE blocks, or unset it to use system roots."
)
OPENSSL = shutil.which("openssl")  # installed by the Makefile (make sysdeps)


def ca_der(ca: trustme.CA) -> bytes:
    return ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode("ascii"))


def pem_block(label: str, der: bytes, *, newline: str = "\n") -> str:
    encoded = base64.b64encode(der).decode("ascii")
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    return newline.join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


def synthetic_trusted_pem(ca: trustme.CA) -> str:
    """A TRUSTED CERTIFICATE block: the CA's DER followed by X509_AUX-like trust data."""
    return pem_block("TRUSTED CERTIFICATE", ca_der(ca) + AUX_TRUST_SERVER_AUTH)


def openssl_trusted_pem(ca_pem: Path, out: Path, *trust_args: str) -> str:
    """Convert with the real ``openssl x509 -trustout`` (caller skips when it is absent)."""
    assert OPENSSL is not None
    subprocess.run(
        [OPENSSL, "x509", "-in", str(ca_pem), "-trustout", *trust_args, "-out", str(out)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return out.read_text()


def crl_pem(ca: trustme.CA) -> str:
    """A real, signed, empty CRL issued by ``ca``."""
    issuer = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    assert isinstance(key, EllipticCurvePrivateKey)  # trustme's default key type
    now = datetime.datetime.now(datetime.UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now)
        .next_update(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return crl.public_bytes(serialization.Encoding.PEM).decode("ascii")


def write_bundle(path: Path, parts: Sequence[str], *, newline: str = "\n") -> Path:
    text = "".join(parts)
    if newline != "\n":
        text = text.replace("\n", newline)
    path.write_bytes(text.encode("utf-8"))
    return path


def server_context(leaf: trustme.LeafCert, tmp_path: Path, *, send_chain: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if send_chain:
        leaf.configure_cert(ctx)
        return ctx
    # Leaf only: the client must find every issuer in its own trust store.
    cert, key = tmp_path / "leaf.pem", tmp_path / "leaf.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


async def _hello(_: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        if message.type is WSMsgType.TEXT:
            await ws.send_str(message.data)
    return ws


@asynccontextmanager
async def serve_tls(ctx: ssl.SSLContext) -> AsyncIterator[int]:
    """Serve GET / ("ok") and an echo WebSocket at /ws on 127.0.0.1; yields the port."""
    app = web.Application()
    app.router.add_get("/", _hello)
    app.router.add_get("/ws", _echo)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        port: int = runner.addresses[0][1]
        yield port
    finally:
        await runner.cleanup()


async def https_get(port: int, ctx: ssl.SSLContext) -> str:
    """GET https://127.0.0.1:<port>/ with aiohttp and the given client context."""
    async with (
        asyncio.timeout(10),
        aiohttp.ClientSession() as session,
        session.get(f"https://127.0.0.1:{port}/", ssl=ctx) as response,
    ):
        response.raise_for_status()
        return await response.text()


async def wss_echo(port: int, ctx: ssl.SSLContext | None, text: str = "ping") -> str:
    """Open wss://127.0.0.1:<port>/ws with websockets and echo one message."""
    async with (
        asyncio.timeout(10),
        connect(f"wss://127.0.0.1:{port}/ws", ssl=ctx, proxy=None) as ws,
    ):
        await ws.send(text)
        reply = await ws.recv()
        assert isinstance(reply, str)
        return reply
