package org.apache.spark.sql.connect.service;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.WireFormat;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Schema-less protobuf message: field number to values (Long for varint/fixed fields,
 * ByteString for length-delimited ones). Enough to read the Spark Connect requests by field
 * number and to write the responses, without generated code.
 */
final class Proto {
  private final Map<Integer, List<Object>> fields = new HashMap<>();

  static Proto parse(byte[] data) {
    return parse(ByteString.copyFrom(data));
  }

  static Proto parse(ByteString data) {
    Proto p = new Proto();
    try {
      CodedInputStream in = data.newCodedInput();
      for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
        int field = WireFormat.getTagFieldNumber(tag);
        switch (WireFormat.getTagWireType(tag)) {
          case WireFormat.WIRETYPE_VARINT:
            p.add(field, in.readInt64());
            break;
          case WireFormat.WIRETYPE_FIXED64:
            p.add(field, in.readFixed64());
            break;
          case WireFormat.WIRETYPE_FIXED32:
            p.add(field, (long) in.readFixed32());
            break;
          case WireFormat.WIRETYPE_LENGTH_DELIMITED:
            p.add(field, in.readBytes());
            break;
          default:
            in.skipField(tag);
        }
      }
    } catch (InvalidProtocolBufferException e) {
      throw new ConnectError(io.grpc.Status.INVALID_ARGUMENT, "malformed request: " + e.getMessage());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return p;
  }

  private void add(int field, Object v) {
    fields.computeIfAbsent(field, k -> new ArrayList<>()).add(v);
  }

  private List<Object> all(int field) {
    return fields.getOrDefault(field, Collections.emptyList());
  }

  private Object last(int field) {
    List<Object> l = all(field);
    return l.isEmpty() ? null : l.get(l.size() - 1);
  }

  boolean has(int field) {
    return fields.containsKey(field);
  }

  /** Last value of a string field, or "" when absent. */
  String str(int field) {
    Object v = last(field);
    return v instanceof ByteString ? ((ByteString) v).toStringUtf8() : "";
  }

  /** Last value of an optional string field, or null when absent. */
  String optStr(int field) {
    Object v = last(field);
    return v instanceof ByteString ? ((ByteString) v).toStringUtf8() : null;
  }

  List<String> strs(int field) {
    List<String> out = new ArrayList<>();
    for (Object v : all(field)) {
      if (v instanceof ByteString) {
        out.add(((ByteString) v).toStringUtf8());
      }
    }
    return out;
  }

  long num(int field) {
    Object v = last(field);
    return v instanceof Long ? (Long) v : 0L;
  }

  boolean bool(int field) {
    return num(field) != 0;
  }

  ByteString bytes(int field) {
    Object v = last(field);
    return v instanceof ByteString ? (ByteString) v : ByteString.EMPTY;
  }

  Proto msg(int field) {
    Object v = last(field);
    return v instanceof ByteString ? parse((ByteString) v) : new Proto();
  }

  List<Proto> msgs(int field) {
    List<Proto> out = new ArrayList<>();
    for (Object v : all(field)) {
      if (v instanceof ByteString) {
        out.add(parse((ByteString) v));
      }
    }
    return out;
  }

  /** Builds a message; plain string fields are skipped when empty, like proto3 defaults. */
  static final class Writer {
    private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
    private final CodedOutputStream out = CodedOutputStream.newInstance(buf);

    Writer str(int field, String s) {
      if (s != null && !s.isEmpty()) {
        optStr(field, s);
      }
      return this;
    }

    /** Writes the string whenever it is non-null (for `optional` fields). */
    Writer optStr(int field, String s) {
      if (s != null) {
        try {
          out.writeString(field, s);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }
      return this;
    }

    Writer num(int field, long v) {
      try {
        out.writeInt64(field, v);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return this;
    }

    Writer bool(int field, boolean v) {
      try {
        out.writeBool(field, v);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return this;
    }

    Writer bytes(int field, ByteString b) {
      try {
        out.writeBytes(field, b);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return this;
    }

    Writer msg(int field, Writer m) {
      return bytes(field, ByteString.copyFrom(m.toByteArray()));
    }

    byte[] toByteArray() {
      try {
        out.flush();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return buf.toByteArray();
    }
  }
}
