"""A minimal PostgreSQL wire-protocol client for the integration tests.

libpq/psycopg hide the SQLSTATE of errors raised during connection start-up
and cannot send malformed messages, so the tests that need either use this.
Supports trust, cleartext, md5 and SCRAM-SHA-256 authentication (no TLS).
"""

import base64
import hashlib
import hmac
import os
import socket
import struct
import time

PROTOCOL_3 = 196608
SSL_REQUEST_CODE = 80877103
CANCEL_REQUEST_CODE = 80877102

AUTH_OK = 0
AUTH_CLEARTEXT = 3
AUTH_MD5 = 5
AUTH_SASL = 10
AUTH_SASL_CONTINUE = 11
AUTH_SASL_FINAL = 12


class WireError(Exception):
    """Raised for protocol violations seen by the test client itself."""


def parse_error_fields(payload):
    """Parse ErrorResponse/NoticeResponse payload into {field_char: str}."""
    fields = {}
    i = 0
    while i < len(payload) and payload[i] != 0:
        code = chr(payload[i])
        end = payload.index(b"\0", i + 1)
        fields[code] = payload[i + 1:end].decode("utf-8", "replace")
        i = end + 1
    return fields


def startup_packet(params, version=PROTOCOL_3):
    body = struct.pack("!I", version)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def message(kind, payload=b""):
    return kind + struct.pack("!I", len(payload) + 4) + payload


def query_message(sql):
    return message(b"Q", sql.encode() + b"\0")


def _hmac(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


class RawConn:
    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = bytearray()
        self.eof = False
        self.auth_codes = []          # authentication request codes seen
        self.parameters = {}          # ParameterStatus
        self.backend_key = None       # (pid, secret)
        self.notices = []

    # ---- low level -------------------------------------------------------
    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def settimeout(self, t):
        self.sock.settimeout(t)

    def _fill(self, n):
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(262144)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                return False
            self.buf += chunk
        return True

    def read_byte(self):
        """Read one raw byte (SSLRequest answer). None on EOF."""
        if not self._fill(1):
            return None
        b = bytes(self.buf[:1])
        del self.buf[:1]
        return b

    def read_msg(self):
        """Return (type_byte, payload) or None on EOF. socket.timeout propagates."""
        if not self._fill(5):
            return None
        kind = bytes(self.buf[:1])
        (length,) = struct.unpack("!I", self.buf[1:5])
        if length < 4 or length > 512 * 1024 * 1024:
            raise WireError("bad length %d for message %r" % (length, kind))
        if not self._fill(1 + length):
            return None
        payload = bytes(self.buf[5:1 + length])
        del self.buf[:1 + length]
        return kind, payload

    def read_until_eof_or_error(self, timeout):
        """Read messages until EOF or an ErrorResponse; returns ('eof', None),
        ('error', fields) or ('timeout', None). Used by the bad-input tests."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout", None
            self.sock.settimeout(left)
            try:
                m = self.read_msg()
            except (socket.timeout, TimeoutError):
                return "timeout", None
            except WireError:
                return "garbage", None
            except OSError:
                return "eof", None
            if m is None:
                return "eof", None
            if m[0] == b"E":
                return "error", parse_error_fields(m[1])

    # ---- start-up and authentication -------------------------------------
    def startup(self, user, database, password=None, **params):
        """Log in. Returns None on success (ReadyForQuery received), otherwise
        the ErrorResponse fields dict. Raises WireError on EOF without error."""
        p = {"user": user, "database": database}
        p.update(params)
        self.send(startup_packet(p))
        scram = None
        while True:
            m = self.read_msg()
            if m is None:
                raise WireError("connection closed during start-up")
            kind, payload = m
            if kind == b"E":
                return parse_error_fields(payload)
            if kind == b"N":
                self.notices.append(parse_error_fields(payload))
            elif kind == b"R":
                (code,) = struct.unpack("!I", payload[:4])
                self.auth_codes.append(code)
                if code == AUTH_OK:
                    pass
                elif code == AUTH_CLEARTEXT:
                    self._need(password)
                    self.send(message(b"p", password.encode() + b"\0"))
                elif code == AUTH_MD5:
                    self._need(password)
                    salt = payload[4:8]
                    inner = hashlib.md5((password + user).encode()).hexdigest()
                    outer = hashlib.md5(inner.encode() + salt).hexdigest()
                    self.send(message(b"p", b"md5" + outer.encode() + b"\0"))
                elif code == AUTH_SASL:
                    self._need(password)
                    mechs = [x.decode() for x in payload[4:].split(b"\0") if x]
                    if "SCRAM-SHA-256" not in mechs:
                        raise WireError("no SCRAM-SHA-256 in %r" % mechs)
                    scram = _Scram(password)
                    first = scram.client_first()
                    self.send(message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first))
                elif code == AUTH_SASL_CONTINUE:
                    self.send(message(b"p", scram.client_final(payload[4:])))
                elif code == AUTH_SASL_FINAL:
                    scram.verify_server_final(payload[4:])
                else:
                    raise WireError("unsupported auth request %d" % code)
            elif kind == b"S":
                parts = payload.split(b"\0")
                self.parameters[parts[0].decode()] = parts[1].decode()
            elif kind == b"K":
                self.backend_key = struct.unpack("!ii", payload[:8])
            elif kind == b"Z":
                return None
            else:
                raise WireError("unexpected message %r during start-up" % kind)

    @staticmethod
    def _need(password):
        if password is None:
            raise WireError("server asked for a password but none was given")

    # ---- simple query ------------------------------------------------------
    def simple_query(self, sql, on_row=None):
        """Run a simple query. Returns (rows_or_count, error_fields_or_None).
        If on_row is given it is called with each DataRow payload and the
        row count is returned instead of rows."""
        self.send(query_message(sql))
        rows = [] if on_row is None else 0
        error = None
        while True:
            m = self.read_msg()
            if m is None:
                raise WireError("connection closed during query")
            kind, payload = m
            if kind == b"D":
                if on_row is None:
                    rows.append(_decode_datarow(payload))
                else:
                    on_row(payload)
                    rows += 1
            elif kind == b"E":
                error = parse_error_fields(payload)
            elif kind == b"Z":
                return rows, error


def _decode_datarow(payload):
    (n,) = struct.unpack("!h", payload[:2])
    i = 2
    out = []
    for _ in range(n):
        (ln,) = struct.unpack("!i", payload[i:i + 4])
        i += 4
        if ln < 0:
            out.append(None)
        else:
            out.append(payload[i:i + ln].decode())
            i += ln
    return out


class _Scram:
    def __init__(self, password):
        self.password = password.encode()
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.client_first_bare = "n=,r=" + self.nonce

    def client_first(self):
        return ("n,," + self.client_first_bare).encode()

    def client_final(self, server_first):
        server_first = server_first.decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        if not attrs["r"].startswith(self.nonce):
            raise WireError("server nonce does not extend the client nonce")
        salt = base64.b64decode(attrs["s"])
        iterations = int(attrs["i"])
        salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, iterations)
        client_key = _hmac(salted, b"Client Key")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = "c=biws,r=" + attrs["r"]
        self.auth_message = ",".join([self.client_first_bare, server_first, without_proof]).encode()
        signature = _hmac(stored_key, self.auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.server_key = _hmac(salted, b"Server Key")
        return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode()

    def verify_server_final(self, data):
        data = data.decode()
        if not data.startswith("v="):
            raise WireError("bad SCRAM server-final-message %r" % data)
        expected = _hmac(self.server_key, self.auth_message)
        if base64.b64decode(data[2:]) != expected:
            raise WireError("SCRAM server signature mismatch")


def cancel_request(port, pid, secret, host="127.0.0.1"):
    """Send a CancelRequest and wait for the server to close the socket."""
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(struct.pack("!IIii", 16, CANCEL_REQUEST_CODE, pid, secret))
        try:
            s.recv(1)
        except OSError:
            pass
