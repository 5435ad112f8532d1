package org.apache.spark.sql.connect.service;

import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TimeZone;
import java.util.function.Supplier;
import java.util.zip.CRC32;
import org.apache.spark.internal.StandinLog;

/**
 * The spark.connect.SparkConnectService gRPC service at wire level: byte[] messages, fields
 * read and written by number (see spark/connect/base.proto), no generated code.
 */
final class ConnectRpcs {
  static final String SERVICE = "spark.connect.SparkConnectService";
  /** Config set of this key wedges the call executor for that many milliseconds. */
  static final String WEDGE_KEY = "standin.wedge.ms";

  private static final StandinLog LOG = StandinLog.get("SparkConnectService");
  private static final MethodDescriptor.Marshaller<byte[]> RAW =
      new MethodDescriptor.Marshaller<byte[]>() {
        @Override
        public InputStream stream(byte[] value) {
          return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
          try {
            return stream.readAllBytes();
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }
      };

  private final boolean v4;
  private final String sparkVersion;
  private final ConnectSessions sessions;
  private final ConnectExecutions executions;
  private final WedgeableExecutor executor;

  ConnectRpcs(boolean v4, String sparkVersion, ConnectSessions sessions,
      ConnectExecutions executions, WedgeableExecutor executor) {
    this.v4 = v4;
    this.sparkVersion = sparkVersion;
    this.sessions = sessions;
    this.executions = executions;
    this.executor = executor;
  }

  private static MethodDescriptor<byte[], byte[]> method(
      String name, MethodDescriptor.MethodType type) {
    return MethodDescriptor.<byte[], byte[]>newBuilder()
        .setType(type)
        .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, name))
        .setRequestMarshaller(RAW)
        .setResponseMarshaller(RAW)
        .build();
  }

  ServerServiceDefinition bindService() {
    ServerServiceDefinition.Builder b = ServerServiceDefinition.builder(SERVICE);
    b.addMethod(method("ExecutePlan", MethodDescriptor.MethodType.SERVER_STREAMING),
        ServerCalls.asyncServerStreamingCall(this::executePlan));
    b.addMethod(method("AnalyzePlan", MethodDescriptor.MethodType.UNARY),
        ServerCalls.asyncUnaryCall((req, obs) -> unary(obs, () -> analyzePlan(Proto.parse(req)))));
    b.addMethod(method("Config", MethodDescriptor.MethodType.UNARY),
        ServerCalls.asyncUnaryCall(this::config));
    b.addMethod(method("AddArtifacts", MethodDescriptor.MethodType.CLIENT_STREAMING),
        ServerCalls.asyncClientStreamingCall(this::addArtifacts));
    b.addMethod(method("ArtifactStatus", MethodDescriptor.MethodType.UNARY),
        ServerCalls.asyncUnaryCall((req, obs) -> unary(obs, () -> artifactStatus(Proto.parse(req)))));
    b.addMethod(method("Interrupt", MethodDescriptor.MethodType.UNARY),
        ServerCalls.asyncUnaryCall((req, obs) -> unary(obs, () -> interrupt(Proto.parse(req)))));
    b.addMethod(method("ReattachExecute", MethodDescriptor.MethodType.SERVER_STREAMING),
        ServerCalls.asyncServerStreamingCall(this::reattachExecute));
    b.addMethod(method("ReleaseExecute", MethodDescriptor.MethodType.UNARY),
        ServerCalls.asyncUnaryCall((req, obs) -> unary(obs, () -> releaseExecute(Proto.parse(req)))));
    if (v4) {
      b.addMethod(method("ReleaseSession", MethodDescriptor.MethodType.UNARY),
          ServerCalls.asyncUnaryCall((req, obs) -> unary(obs, () -> releaseSession(Proto.parse(req)))));
      b.addMethod(method("FetchErrorDetails", MethodDescriptor.MethodType.UNARY),
          ServerCalls.asyncUnaryCall(
              (req, obs) -> unary(obs, () -> fetchErrorDetails(Proto.parse(req)))));
    }
    return b.build();
  }

  private static void unary(StreamObserver<byte[]> obs, Supplier<byte[]> body) {
    byte[] resp;
    try {
      resp = body.get();
    } catch (Throwable t) {
      obs.onError(ConnectError.of(t));
      return;
    }
    obs.onNext(resp);
    obs.onCompleted();
  }

  private static String userId(Proto req) {
    return req.msg(2).str(1);
  }

  private Proto.Writer head(ConnectSessions.Session s, int sessionField, int serverSideField) {
    Proto.Writer w = new Proto.Writer().str(sessionField, s.sessionId);
    if (v4) {
      w.str(serverSideField, s.serverSideSessionId);
    }
    return w;
  }

  // ---- ExecutePlan / ReattachExecute / ReleaseExecute / Interrupt ----

  private void executePlan(byte[] raw, StreamObserver<byte[]> obs) {
    try {
      Proto req = Proto.parse(raw);
      ConnectSessions.Session s = sessions.getOrCreate(userId(req), req.str(1), req.optStr(8));
      executions.executePlan(req, s, (ServerCallStreamObserver<byte[]>) obs);
    } catch (Throwable t) {
      obs.onError(ConnectError.of(t));
    }
  }

  private void reattachExecute(byte[] raw, StreamObserver<byte[]> obs) {
    try {
      Proto req = Proto.parse(raw);
      ConnectSessions.Session s = sessions.get(userId(req), req.str(1), req.optStr(6));
      executions.reattach(req, s, (ServerCallStreamObserver<byte[]>) obs);
    } catch (Throwable t) {
      obs.onError(ConnectError.of(t));
    }
  }

  private byte[] releaseExecute(Proto req) {
    ConnectSessions.Session s = sessions.get(userId(req), req.str(1), req.optStr(7));
    return executions.release(req, s);
  }

  private byte[] interrupt(Proto req) {
    ConnectSessions.Session s = sessions.get(userId(req), req.str(1), req.optStr(7));
    int type = (int) req.num(4);
    String arg;
    switch (type) {
      case 1:
        arg = null;
        break;
      case 2:
        arg = req.str(5);
        break;
      case 3:
        arg = req.str(6);
        break;
      default:
        throw new ConnectError(Status.INVALID_ARGUMENT, "Unknown interrupt type " + type);
    }
    Proto.Writer w = head(s, 1, 3);
    for (String id : executions.interrupt(s, type, arg)) {
      w.optStr(2, id);
    }
    return w.toByteArray();
  }

  // ---- AnalyzePlan ----

  private byte[] analyzePlan(Proto req) {
    ConnectSessions.Session s = sessions.getOrCreate(userId(req), req.str(1), req.optStr(17));
    Proto.Writer w = head(s, 1, 15);
    if (req.has(10)) {
      return w.msg(8, new Proto.Writer().str(1, sparkVersion)).toByteArray();
    }
    if (req.has(7)) {
      return w.msg(5, new Proto.Writer().bool(1, true)).toByteArray();
    }
    throw new ConnectError(Status.UNIMPLEMENTED,
        "stand-in: only the spark_version and is_local analyses are implemented");
  }

  // ---- Config ----

  private void config(byte[] raw, StreamObserver<byte[]> obs) {
    long[] wedge = {0};
    unary(obs, () -> config(Proto.parse(raw), wedge));
    if (wedge[0] > 0) {
      executor.wedge(wedge[0]);
    }
  }

  private String defaultConf(String key) {
    switch (key) {
      case "spark.sql.session.timeZone":
        return TimeZone.getDefault().getID();
      case "spark.sql.ansi.enabled":
        return v4 ? "true" : "false";
      case "spark.sql.shuffle.partitions":
        return "200";
      case "spark.sql.execution.arrow.maxRecordsPerBatch":
        return "10000";
      case "spark.sql.pyspark.jvmStacktrace.enabled":
        return "false";
      case "spark.sql.connect.enrichError.enabled":
      case "spark.sql.connect.serverStacktrace.enabled":
        return v4 ? "true" : null;
      default:
        return null;
    }
  }

  private static boolean isStatic(String key) {
    return key.startsWith("spark.connect.") || key.equals("spark.sql.warehouse.dir")
        || key.equals("spark.sql.catalogImplementation");
  }

  private static boolean isCoreConf(String key) {
    return key.equals("spark.master") || key.startsWith("spark.app.")
        || key.startsWith("spark.driver.") || key.startsWith("spark.executor.")
        || key.startsWith("spark.submit.") || key.equals("spark.jars");
  }

  private byte[] config(Proto req, long[] wedge) {
    ConnectSessions.Session s = sessions.getOrCreate(userId(req), req.str(1), req.optStr(8));
    Proto op = req.msg(3);
    Map<String, String> conf = s.conf;
    List<String[]> pairs = new ArrayList<>();
    if (op.has(1)) {
      Proto set = op.msg(1);
      boolean silent = set.bool(2);
      for (Proto kv : set.msgs(1)) {
        String key = kv.str(1);
        String value = kv.optStr(2);
        if (key.equals(WEDGE_KEY)) {
          wedge[0] = Long.parseLong(value == null ? "0" : value.trim());
          continue;
        }
        if (!silent && isStatic(key)) {
          throw ConnectError.spark("CANNOT_MODIFY_STATIC_CONFIG",
              "Cannot modify the value of the static Spark config: \"" + key + "\".", "46110");
        }
        if (!silent && isCoreConf(key)) {
          throw ConnectError.spark("CANNOT_MODIFY_CONFIG",
              "Cannot modify the value of the Spark config: \"" + key + "\".", "46110");
        }
        conf.put(key, value == null ? "" : value);
      }
    } else if (op.has(2)) {
      for (String key : op.msg(2).strs(1)) {
        String v = conf.containsKey(key) ? conf.get(key) : defaultConf(key);
        if (v == null) {
          v = artifactConf(s, key);
        }
        if (v == null) {
          throw ConnectError.spark("SQL_CONF_NOT_FOUND", "The SQL config \"" + key
              + "\" cannot be found. Please verify that the config exists.", "42K0I");
        }
        pairs.add(new String[] {key, v});
      }
    } else if (op.has(3)) {
      for (Proto kv : op.msg(3).msgs(1)) {
        String key = kv.str(1);
        String v = conf.containsKey(key) ? conf.get(key) : kv.optStr(2);
        pairs.add(new String[] {key, v});
      }
    } else if (op.has(4)) {
      for (String key : op.msg(4).strs(1)) {
        String v = conf.containsKey(key) ? conf.get(key) : defaultConf(key);
        pairs.add(new String[] {key, v});
      }
    } else if (op.has(5)) {
      String prefix = op.msg(5).optStr(1);
      Map<String, String> copy;
      synchronized (conf) {
        copy = new LinkedHashMap<>(conf);
      }
      for (Map.Entry<String, String> e : copy.entrySet()) {
        if (prefix == null || e.getKey().startsWith(prefix)) {
          pairs.add(new String[] {e.getKey(), e.getValue()});
        }
      }
    } else if (op.has(6)) {
      for (String key : op.msg(6).strs(1)) {
        conf.remove(key);
      }
    } else if (op.has(7)) {
      for (String key : op.msg(7).strs(1)) {
        boolean modifiable = key.startsWith("spark.sql.") && !isStatic(key);
        pairs.add(new String[] {key, Boolean.toString(modifiable)});
      }
    } else {
      throw new ConnectError(Status.INVALID_ARGUMENT, "Config request without an operation");
    }
    Proto.Writer w = head(s, 1, 4);
    for (String[] kv : pairs) {
      w.msg(2, new Proto.Writer().optStr(1, kv[0]).optStr(2, kv[1]));
    }
    return w.toByteArray();
  }

  /** standin.artifact.NAME reads back "bytes:crc32hex" of an artifact received by AddArtifacts. */
  private static String artifactConf(ConnectSessions.Session s, String key) {
    if (!key.startsWith("standin.artifact.")) {
      return null;
    }
    synchronized (s.artifacts) {
      ConnectSessions.Artifact a = s.artifacts.get(key.substring("standin.artifact.".length()));
      return a == null ? null : a.bytes + ":" + Long.toHexString(a.crc.getValue());
    }
  }

  // ---- AddArtifacts / ArtifactStatus ----

  private StreamObserver<byte[]> addArtifacts(StreamObserver<byte[]> resp) {
    return new StreamObserver<byte[]>() {
      private ConnectSessions.Session session;
      private final Map<String, Boolean> summaries = new LinkedHashMap<>();
      private String chunked;
      private long chunksLeft;
      private boolean failed;

      @Override
      public void onNext(byte[] raw) {
        if (failed) {
          return;
        }
        try {
          Proto req = Proto.parse(raw);
          if (session == null) {
            session = sessions.getOrCreate(userId(req), req.str(1), req.optStr(7));
          }
          if (req.has(3)) {
            for (Proto a : req.msg(3).msgs(1)) {
              record(a.str(1), a.msg(2), true);
            }
          } else if (req.has(4)) {
            Proto begin = req.msg(4);
            chunked = begin.str(1);
            chunksLeft = begin.num(3) - 1;
            record(chunked, begin.msg(4), true);
          } else if (req.has(5)) {
            if (chunked == null || chunksLeft <= 0) {
              throw new ConnectError(Status.INVALID_ARGUMENT,
                  "ArtifactChunk received without a BeginChunkedArtifact");
            }
            record(chunked, req.msg(5), false);
            chunksLeft--;
          }
        } catch (Throwable t) {
          failed = true;
          resp.onError(ConnectError.of(t));
        }
      }

      private void record(String name, Proto chunk, boolean first) {
        byte[] data = chunk.bytes(1).toByteArray();
        CRC32 crc = new CRC32();
        crc.update(data);
        boolean ok = crc.getValue() == chunk.num(2);
        synchronized (session.artifacts) {
          ConnectSessions.Artifact a = first ? new ConnectSessions.Artifact()
              : session.artifacts.get(name);
          if (first) {
            session.artifacts.put(name, a);
          }
          a.bytes += data.length;
          a.crc.update(data);
          a.crcOk &= ok;
          summaries.put(name, a.crcOk);
        }
      }

      @Override
      public void onError(Throwable t) {
        LOG.debug("AddArtifacts stream failed: " + t);
      }

      @Override
      public void onCompleted() {
        if (failed) {
          return;
        }
        if (session == null) {
          resp.onError(Status.INVALID_ARGUMENT.withDescription("empty AddArtifacts stream")
              .asRuntimeException());
          return;
        }
        Proto.Writer w = head(session, 2, 3);
        for (Map.Entry<String, Boolean> e : summaries.entrySet()) {
          w.msg(1, new Proto.Writer().str(1, e.getKey()).bool(2, e.getValue()));
        }
        resp.onNext(w.toByteArray());
        resp.onCompleted();
      }
    };
  }

  private byte[] artifactStatus(Proto req) {
    ConnectSessions.Session s = sessions.getOrCreate(userId(req), req.str(1), req.optStr(5));
    Proto.Writer w = head(s, 2, 3);
    for (String name : req.strs(4)) {
      boolean exists;
      synchronized (s.artifacts) {
        exists = s.artifacts.containsKey(name);
      }
      w.msg(1, new Proto.Writer().str(1, name).msg(2, new Proto.Writer().bool(1, exists)));
    }
    return w.toByteArray();
  }

  // ---- ReleaseSession / FetchErrorDetails (4.x) ----

  private byte[] releaseSession(Proto req) {
    ConnectSessions.Session s = sessions.release(userId(req), req.str(1));
    Proto.Writer w = new Proto.Writer().str(1, req.str(1));
    if (s != null) {
      executions.removeSession(s);
      w.str(2, s.serverSideSessionId);
    }
    return w.toByteArray();
  }

  private byte[] fetchErrorDetails(Proto req) {
    ConnectSessions.Session s = sessions.getOrCreate(userId(req), req.str(1), req.optStr(5));
    return new Proto.Writer().str(3, s.serverSideSessionId).str(4, s.sessionId).toByteArray();
  }
}
