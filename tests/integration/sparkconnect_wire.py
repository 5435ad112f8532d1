"""Wire-level Spark Connect client for tests.

Talks to ``spark.connect.SparkConnectService`` with grpc generic calls on raw bytes and a
tiny hand-written protobuf codec, so it needs neither pyspark nor generated code: only the
system python3-grpcio. Field numbers follow apache/spark
``sql/connect/common/src/main/protobuf/spark/connect/base.proto``.

Typical use::

    with Client("127.0.0.1:15002") as c:
        c.config_set({"spark.sql.shuffle.partitions": "4"})
        c.spark_version()
        rs = c.execute_all(responses=3, size=1024)
"""

import getpass
import uuid
import zlib

import grpc

SERVICE = "spark.connect.SparkConnectService"

# ---------------------------------------------------------------------------------------
# Minimal protobuf codec
# ---------------------------------------------------------------------------------------

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5


def varint(n):
    """Encode an int as a protobuf varint (negative numbers as 64-bit two's complement)."""
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _tag(field, wire_type):
    return varint((field << 3) | wire_type)


def f_int(field, value):
    """An int64/int32/enum/bool field."""
    return _tag(field, _VARINT) + varint(int(value))


def f_bool(field, value):
    return f_int(field, 1 if value else 0)


def f_bytes(field, data):
    """A length-delimited field (bytes, or an already encoded sub-message)."""
    data = bytes(data)
    return _tag(field, _LEN) + varint(len(data)) + data


def f_str(field, text):
    return f_bytes(field, text.encode("utf-8"))


f_msg = f_bytes


def _read_varint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


class Msg:
    """A decoded message: field number -> list of values (int or bytes)."""

    def __init__(self, data=b""):
        self.raw = bytes(data)
        self.fields = {}
        pos = 0
        buf = self.raw
        while pos < len(buf):
            key, pos = _read_varint(buf, pos)
            field, wt = key >> 3, key & 7
            if wt == _VARINT:
                val, pos = _read_varint(buf, pos)
            elif wt == _FIXED64:
                val, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
            elif wt == _FIXED32:
                val, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
            elif wt == _LEN:
                n, pos = _read_varint(buf, pos)
                val, pos = buf[pos:pos + n], pos + n
            else:
                raise ValueError("unsupported wire type %d" % wt)
            self.fields.setdefault(field, []).append(val)

    def has(self, f):
        return f in self.fields

    def int(self, f, default=0):
        v = self.fields.get(f)
        return v[-1] if v else default

    def bool(self, f):
        return bool(self.int(f))

    def bytes(self, f):
        v = self.fields.get(f)
        return v[-1] if v else b""

    def str(self, f, default=""):
        v = self.fields.get(f)
        return v[-1].decode("utf-8") if v else default

    def opt_str(self, f):
        v = self.fields.get(f)
        return v[-1].decode("utf-8") if v else None

    def strs(self, f):
        return [v.decode("utf-8") for v in self.fields.get(f, [])]

    def msg(self, f):
        return Msg(self.bytes(f))

    def msgs(self, f):
        return [Msg(v) for v in self.fields.get(f, [])]

    def __repr__(self):
        return "Msg(%r)" % (self.fields,)


# ---------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------


class ExecuteResponse:
    """One ExecutePlanResponse, decoded."""

    def __init__(self, raw):
        m = Msg(raw)
        self.raw = raw
        self.session_id = m.str(1)
        self.server_side_session_id = m.str(15)
        self.operation_id = m.str(12)
        self.response_id = m.str(13)
        self.result_complete = m.has(14)
        self.arrow_batch = m.has(2)
        batch = m.msg(2)
        self.row_count = batch.int(1)
        self.data = batch.bytes(2)

    def __repr__(self):
        kind = "result_complete" if self.result_complete else "arrow_batch[%d]" % len(self.data)
        return "ExecuteResponse(%s, op=%s, id=%s)" % (kind, self.operation_id, self.response_id)


class Client:
    """A Spark Connect session (user_id + session_id) over one gRPC channel."""

    def __init__(self, target, token=None, user_id=getpass.getuser(), user_name=None,
                 session_id=None, metadata=(), timeout=30.0):
        self.target = target
        self.token = token
        self.user_id = user_id
        self.user_name = user_name if user_name is not None else user_id
        self.session_id = session_id or str(uuid.uuid4())
        self.metadata = list(metadata)
        self.timeout = timeout
        self.server_side_session_id = None
        self.channel = grpc.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", -1),
            ("grpc.max_send_message_length", -1),
            ("grpc.enable_http_proxy", 0),
        ])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.channel.close()

    # -- plumbing --

    def _md(self):
        md = list(self.metadata)
        if self.token is not None:
            md.append(("authorization", "Bearer %s" % self.token))
        return md

    def _path(self, method):
        return "/%s/%s" % (SERVICE, method)

    def user_context(self):
        uc = f_str(1, self.user_id) if self.user_id else b""
        if self.user_name:
            uc += f_str(2, self.user_name)
        return uc

    def head(self):
        """session_id = 1 and user_context = 2, common to every request."""
        return f_str(1, self.session_id) + f_msg(2, self.user_context())

    def unary(self, method, request, timeout=None):
        """Raw unary call: request bytes in, response bytes out."""
        fn = self.channel.unary_unary(self._path(method), request_serializer=None,
                                      response_deserializer=None)
        return fn(request, timeout=timeout or self.timeout, metadata=self._md())

    def server_stream(self, method, request, timeout=None):
        """Raw server-streaming call: returns the grpc call (an iterator of bytes)."""
        fn = self.channel.unary_stream(self._path(method), request_serializer=None,
                                       response_deserializer=None)
        return fn(request, timeout=timeout or self.timeout, metadata=self._md())

    def client_stream(self, method, requests, timeout=None):
        """Raw client-streaming call: an iterable of request bytes in, response bytes out."""
        fn = self.channel.stream_unary(self._path(method), request_serializer=None,
                                       response_deserializer=None)
        return fn(iter(requests), timeout=timeout or self.timeout, metadata=self._md())

    def _note_ssid(self, value):
        if value:
            self.server_side_session_id = value

    # -- Config (ConfigRequest: operation = 3; ConfigResponse: pairs = 2, ssid = 4) --

    def config(self, operation, timeout=None):
        resp = Msg(self.unary("Config", self.head() + f_msg(3, operation), timeout))
        self._note_ssid(resp.str(4))
        return resp

    @staticmethod
    def _pairs(resp):
        return {kv.str(1): kv.opt_str(2) for kv in resp.msgs(2)}

    @staticmethod
    def _kv(key, value):
        return f_str(1, key) + (f_str(2, value) if value is not None else b"")

    def config_set(self, pairs, silent=False, timeout=None):
        body = b"".join(f_msg(1, self._kv(k, v)) for k, v in pairs.items())
        if silent:
            body += f_bool(2, True)
        return self.config(f_msg(1, body), timeout)

    def config_get(self, keys, timeout=None):
        return self._pairs(self.config(f_msg(2, b"".join(f_str(1, k) for k in keys)), timeout))

    def config_get_with_default(self, pairs, timeout=None):
        body = b"".join(f_msg(1, self._kv(k, v)) for k, v in pairs.items())
        return self._pairs(self.config(f_msg(3, body), timeout))

    def config_get_option(self, keys, timeout=None):
        return self._pairs(self.config(f_msg(4, b"".join(f_str(1, k) for k in keys)), timeout))

    def config_get_all(self, prefix=None, timeout=None):
        body = f_str(1, prefix) if prefix is not None else b""
        return self._pairs(self.config(f_msg(5, body), timeout))

    def config_unset(self, keys, timeout=None):
        return self.config(f_msg(6, b"".join(f_str(1, k) for k in keys)), timeout)

    def config_is_modifiable(self, keys, timeout=None):
        return self._pairs(self.config(f_msg(7, b"".join(f_str(1, k) for k in keys)), timeout))

    # -- AnalyzePlan (spark_version = 10 -> response spark_version = 8 { version = 1 }) --

    def spark_version(self, timeout=None):
        resp = Msg(self.unary("AnalyzePlan", self.head() + f_msg(10, b""), timeout))
        self._note_ssid(resp.str(15))
        return resp.msg(8).str(1)

    # -- ExecutePlan / ReattachExecute / ReleaseExecute / Interrupt --

    @staticmethod
    def standin_tags(responses=None, size=None, delay_ms=None, detach_after=None):
        tags = []
        if responses is not None:
            tags.append("standin.responses=%d" % responses)
        if size is not None:
            tags.append("standin.size=%d" % size)
        if delay_ms is not None:
            tags.append("standin.delay.ms=%d" % delay_ms)
        if detach_after is not None:
            tags.append("standin.detach.after=%d" % detach_after)
        return tags

    def execute_request(self, tags=(), operation_id=None, reattachable=False, plan=b"",
                        client_type="sparkconnect_wire"):
        req = self.head() + f_msg(3, plan) + f_str(4, client_type)
        if reattachable:
            req += f_msg(5, f_msg(1, f_bool(1, True)))
        if operation_id:
            req += f_str(6, operation_id)
        for t in tags:
            req += f_str(7, t)
        return req

    def execute(self, responses=None, size=None, delay_ms=None, detach_after=None, tags=(),
                operation_id=None, reattachable=False, timeout=None):
        """Start ExecutePlan; returns (operation_id, call). Iterate the call for raw bytes
        (or use responses_of) and call call.cancel() to drop the RPC."""
        operation_id = operation_id or str(uuid.uuid4())
        all_tags = list(tags) + self.standin_tags(responses, size, delay_ms, detach_after)
        call = self.server_stream("ExecutePlan", self.execute_request(
            all_tags, operation_id, reattachable), timeout)
        return operation_id, call

    @staticmethod
    def responses_of(call):
        for raw in call:
            yield ExecuteResponse(raw)

    def reattach(self, operation_id, last_response_id=None, timeout=None):
        req = self.head() + f_str(3, operation_id) + f_str(4, "sparkconnect_wire")
        if last_response_id is not None:
            req += f_str(5, last_response_id)
        return self.server_stream("ReattachExecute", req, timeout)

    def release_execute(self, operation_id, until_response_id=None, timeout=None):
        req = self.head() + f_str(3, operation_id)
        if until_response_id is None:
            req += f_msg(5, b"")
        else:
            req += f_msg(6, f_str(1, until_response_id))
        resp = Msg(self.unary("ReleaseExecute", req, timeout))
        return resp.opt_str(2)

    def execute_all(self, responses=None, size=None, delay_ms=None, detach_after=None,
                    tags=(), operation_id=None, reattachable=True, timeout=None):
        """Run an operation to completion like pyspark's reattachable iterator does: reattach
        while the stream ends without ResultComplete, then ReleaseExecute(release_all)."""
        op, call = self.execute(responses, size, delay_ms, detach_after, tags, operation_id,
                                reattachable, timeout)
        out = []
        while True:
            for r in self.responses_of(call):
                out.append(r)
            if out and out[-1].result_complete:
                break
            if not reattachable:
                raise RuntimeError("stream ended without ResultComplete")
            call = self.reattach(op, out[-1].response_id if out else None, timeout)
        if reattachable:
            self.release_execute(op)
        return out

    INTERRUPT_ALL, INTERRUPT_TAG, INTERRUPT_OPERATION_ID = 1, 2, 3

    def interrupt(self, kind, value=None, timeout=None):
        req = self.head() + f_int(4, kind)
        if kind == self.INTERRUPT_TAG:
            req += f_str(5, value)
        elif kind == self.INTERRUPT_OPERATION_ID:
            req += f_str(6, value)
        resp = Msg(self.unary("Interrupt", req, timeout))
        return resp.strs(2)

    def interrupt_all(self, timeout=None):
        return self.interrupt(self.INTERRUPT_ALL, timeout=timeout)

    def interrupt_tag(self, tag, timeout=None):
        return self.interrupt(self.INTERRUPT_TAG, tag, timeout)

    def interrupt_operation(self, operation_id, timeout=None):
        return self.interrupt(self.INTERRUPT_OPERATION_ID, operation_id, timeout)

    # -- AddArtifacts (client streaming) / ArtifactStatus --

    def add_artifacts(self, artifacts, chunk_size=32 * 1024, corrupt=(), timeout=None):
        """artifacts: [(name, data)]. Data up to chunk_size goes in one Batch request, bigger
        ones as BeginChunkedArtifact + ArtifactChunk messages. Names in `corrupt` get a wrong
        CRC. Returns [(name, is_crc_successful)]."""

        def chunk(data, bad):
            crc = zlib.crc32(data) & 0xFFFFFFFF
            if bad:
                crc ^= 1
            return f_bytes(1, data) + f_int(2, crc)

        def requests():
            head = self.head()
            for name, data in artifacts:
                bad = name in corrupt
                if len(data) <= chunk_size:
                    single = f_str(1, name) + f_msg(2, chunk(data, bad))
                    yield head + f_msg(3, f_msg(1, single))
                    continue
                pieces = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]
                begin = (f_str(1, name) + f_int(2, len(data)) + f_int(3, len(pieces))
                         + f_msg(4, chunk(pieces[0], bad)))
                yield head + f_msg(4, begin)
                for p in pieces[1:]:
                    yield head + f_msg(5, chunk(p, False))

        resp = Msg(self.client_stream("AddArtifacts", requests(), timeout))
        self._note_ssid(resp.str(3))
        return [(a.str(1), a.bool(2)) for a in resp.msgs(1)]

    def artifact_status(self, names, timeout=None):
        req = self.head() + b"".join(f_str(4, n) for n in names)
        resp = Msg(self.unary("ArtifactStatus", req, timeout))
        return {e.str(1): e.msg(2).bool(1) for e in resp.msgs(1)}

    # -- ReleaseSession / FetchErrorDetails (4.0+) --

    def release_session(self, timeout=None):
        resp = Msg(self.unary("ReleaseSession", self.head(), timeout))
        return resp.str(1), resp.str(2)

    def fetch_error_details(self, error_id, timeout=None):
        return Msg(self.unary("FetchErrorDetails", self.head() + f_str(3, error_id), timeout))
