"""A minimal synchronous ZooKeeper client for tests (no kazoo on the box).

It speaks just enough of the jute wire protocol to look at what an engine
registered the way a gateway would: list children, read data, stat, ACLs,
create, delete, and digest authentication. One request at a time, no
watches, bounded socket timeouts. Connects to 127.0.0.1, or to a host of
a test network namespace through its connect function (netns.py).
"""
import base64
import hashlib
import socket
import struct

# Operation codes (ZooDefs.OpCode).
OP_CREATE, OP_DELETE, OP_EXISTS, OP_GETDATA = 1, 2, 3, 4
OP_GETACL, OP_GETCHILDREN, OP_PING, OP_AUTH, OP_CLOSE = 6, 8, 11, 100, -11
XID_AUTH = -4

# Error codes we name in tests (KeeperException.Code).
OK, NONODE, NOAUTH, NODEEXISTS, NOTEMPTY = 0, -101, -102, -110, -111

PERM_READ, PERM_WRITE, PERM_CREATE, PERM_DELETE, PERM_ADMIN = 1, 2, 4, 8, 16
PERM_ALL = 31
EPHEMERAL, SEQUENTIAL = 1, 2

OPEN_ACL = [(PERM_ALL, "world", "anyone")]


class ZkError(Exception):
    def __init__(self, code, what):
        super().__init__(f"{what}: ZooKeeper error {code}")
        self.code = code


def digest_id(user_pass):
    """The id ZooKeeper stores for digest auth "user:pass"."""
    user = user_pass.split(":", 1)[0]
    sha = hashlib.sha1(user_pass.encode()).digest()
    return f"{user}:{base64.b64encode(sha).decode()}"


class _W:
    def __init__(self):
        self.b = bytearray()

    def int(self, v):
        self.b += struct.pack(">i", v)
        return self

    def long(self, v):
        self.b += struct.pack(">q", v)
        return self

    def bool(self, v):
        self.b += b"\x01" if v else b"\x00"
        return self

    def buf(self, v):
        if v is None:
            return self.int(-1)
        self.int(len(v))
        self.b += v
        return self

    def str(self, s):
        return self.buf(None if s is None else s.encode())


class _R:
    def __init__(self, b):
        self.b, self.o = b, 0

    def _take(self, n):
        v = self.b[self.o:self.o + n]
        if len(v) != n:
            raise EOFError("short ZooKeeper reply")
        self.o += n
        return v

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def long(self):
        return struct.unpack(">q", self._take(8))[0]

    def buf(self):
        n = self.int()
        return None if n < 0 else bytes(self._take(n))

    def str(self):
        v = self.buf()
        return None if v is None else v.decode()

    def stat(self):
        keys = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion",
                "aversion", "ephemeralOwner", "dataLength", "numChildren", "pzxid")
        fmt = (self.long, self.long, self.long, self.long, self.int, self.int,
               self.int, self.long, self.int, self.int, self.long)
        return {k: f() for k, f in zip(keys, fmt)}


class ZkClient:
    """with ZkClient(port) as c: c.children("/")"""

    def __init__(self, port, timeout=5.0, session_ms=10000, host="127.0.0.1", connect=None):
        """connect(host, port, timeout) -> socket opens the connection (a
        network namespace's, netns.Host.connect); default: this process's."""
        self.sock = (connect or (lambda h, p, t: socket.create_connection((h, p), timeout=t)))(
            host, port, timeout)
        self.xid = 0
        req = (_W().int(0).long(0).int(session_ms).long(0).buf(b"\0" * 16)
               .bool(False))
        self._send(req.b)
        r = _R(self._recv())
        r.int()  # protocol version
        self.timeout_ms = r.int()
        self.session_id = r.long()
        if self.session_id == 0:
            raise ZkError(-112, "connect")

    # -- framing
    def _send(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + bytes(payload))

    def _recv_exact(self, n):
        out = bytearray()
        while len(out) < n:
            b = self.sock.recv(n - len(out))
            if not b:
                raise EOFError("ZooKeeper closed the connection")
            out += b
        return bytes(out)

    def _recv(self):
        (n,) = struct.unpack(">i", self._recv_exact(4))
        return self._recv_exact(n)

    def _call(self, op, body, what, xid=None):
        if xid is None:
            self.xid += 1
            xid = self.xid
        self._send(_W().int(xid).int(op).b + body)
        while True:
            r = _R(self._recv())
            rxid, _zxid, err = r.int(), r.long(), r.int()
            if rxid == -1 or rxid == -2:  # watch event / ping reply: not ours
                continue
            if err != OK:
                raise ZkError(err, what)
            return r

    # -- operations
    def add_auth_digest(self, user_pass):
        body = _W().int(0).str("digest").buf(user_pass.encode()).b
        self._call(OP_AUTH, body, "auth", xid=XID_AUTH)

    def children(self, path):
        r = self._call(OP_GETCHILDREN, _W().str(path).bool(False).b, f"ls {path}")
        return [r.str() for _ in range(r.int())]

    def get(self, path):
        r = self._call(OP_GETDATA, _W().str(path).bool(False).b, f"get {path}")
        return r.buf(), r.stat()

    def exists(self, path):
        try:
            r = self._call(OP_EXISTS, _W().str(path).bool(False).b, f"stat {path}")
        except ZkError as e:
            if e.code == NONODE:
                return None
            raise
        return r.stat()

    def acl(self, path):
        r = self._call(OP_GETACL, _W().str(path).b, f"getAcl {path}")
        out = []
        for _ in range(r.int()):
            perms = r.int()
            scheme = r.str()
            ident = r.str()
            out.append((perms, scheme, ident))
        return out

    def create(self, path, data=b"", acl=OPEN_ACL, flags=0):
        w = _W().str(path).buf(data).int(len(acl))
        for perms, scheme, ident in acl:
            w.int(perms).str(scheme).str(ident)
        w.int(flags)
        return self._call(OP_CREATE, w.b, f"create {path}").str()

    def delete(self, path, version=-1):
        self._call(OP_DELETE, _W().str(path).int(version).b, f"delete {path}")

    def close(self):
        try:
            self._call(OP_CLOSE, b"", "close")
        except (OSError, EOFError, ZkError):
            pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def nodes_with(port, namespace, needle, **kw):
    """Children of namespace whose NAME contains needle (what a gateway polls
    for: `refId=<id>`); [] when the namespace does not exist yet."""
    with ZkClient(port, **kw) as c:
        try:
            return [n for n in c.children(namespace) if needle in n]
        except ZkError as e:
            if e.code == NONODE:
                return []
            raise
