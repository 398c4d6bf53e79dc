"""HTTP/1.1 by hand, for what a polite client won't do: announce 10 MB and send none of it.

The requests are written by hand (they break the rules on purpose); h11 reads the answers.
"""

from __future__ import annotations

import select
import socket
import time

import h11


def _read_response(
    sock: socket.socket, deadline: float, buffered: bytes = b""
) -> tuple[int, bytes, bytes]:
    """One response from `buffered` then the socket: status, body, and the bytes read past
    it (the start of the next response, when two arrive in one read). Parsed by h11."""
    conn = h11.Connection(our_role=h11.CLIENT)
    # h11 reads a response only to a request it sent: the real one went out by hand, so this
    # one is written to nobody, just to put the parser where the exchange is.
    conn.send(
        h11.Request(method="POST", target="/", headers=[("Host", "x"), ("Content-Length", "0")])
    )
    conn.send(h11.EndOfMessage())
    if buffered:  # b"" would tell h11 the server closed
        conn.receive_data(buffered)
    status, body = 0, b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            conn.receive_data(sock.recv(65536))  # b"": the server closed
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            return status, body, conn.trailing_data[0]


def headers_only(
    port: int, path: str, content_length: int, timeout: float = 5
) -> tuple[int, bytes]:
    """POST that announces `content_length` bytes of JSON and sends none: an answer comes
    only if the server decides from the headers alone."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {content_length}\r\n\r\n".encode()
        )
        status, body, _ = _read_response(sock, deadline)
        return status, body


def chunked(
    port: int, path: str, body: bytes, chunk_size: int = 65536, timeout: float = 10
) -> tuple[int, bytes, int]:
    """POST `body` with chunked transfer encoding (no length up front), stopping as soon as
    the server answers. Returns status, response body and the bytes sent before the answer."""
    deadline = time.monotonic() + timeout
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        for start in range(0, len(body), chunk_size):
            # A short pause per chunk lets an answer arrive before the next one is sent, so
            # `sent` measures what the server took, not what the kernel buffered.
            if select.select([sock], [], [], 0.05)[0]:
                break  # the server has answered (or closed): stop sending
            piece = body[start : start + chunk_size]
            try:
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            except (TimeoutError, BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        else:
            sock.sendall(b"0\r\n\r\n")
        status, answer, _ = _read_response(sock, deadline)
        return status, answer, sent


def longer_than_declared(
    port: int, path: str, body: bytes, extra: bytes, timeout: float = 10
) -> list[tuple[int, bytes]]:
    """POST that declares `body`'s length and sends `extra` after it in the same write;
    the first two answers, in order (fewer if the server closes or goes quiet first)."""
    deadline = time.monotonic() + timeout
    answers: list[tuple[int, bytes]] = []
    rest = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
            + extra
        )
        while len(answers) < 2:
            try:
                status, answer, rest = _read_response(sock, deadline, rest)
                answers.append((status, answer))
            except (TimeoutError, ConnectionResetError, h11.RemoteProtocolError):
                break
    return answers
