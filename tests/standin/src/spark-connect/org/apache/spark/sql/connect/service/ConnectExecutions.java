package org.apache.spark.sql.connect.service;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.spark.internal.StandinLog;
import org.apache.spark.util.StandinScala;

/**
 * The execution manager: ExecutePlan operations, their response buffers, reattachment,
 * release and interruption. An "execution" here produces synthetic responses shaped by the
 * request tags (standin.responses, standin.size, standin.delay.ms, standin.detach.after,
 * standin.stream.bytes).
 */
final class ConnectExecutions {
  private static final StandinLog LOG = StandinLog.get("SparkConnectExecutionManager");

  private static final int STREAM_WINDOW = 8;
  private final boolean v4;
  private final long detachedTimeoutMs;
  private final boolean nanoClock;
  private final Map<List<String>, Execution> executions = new LinkedHashMap<>();
  private long lastExecutionTime;

  /** nanoClock: report System.nanoTime() in Left, as newer Spark 4 code does, not epoch ms. */
  ConnectExecutions(boolean v4, long detachedTimeoutMs, boolean nanoClock) {
    this.v4 = v4;
    this.detachedTimeoutMs = detachedTimeoutMs;
    this.nanoClock = nanoClock;
    this.lastExecutionTime = now();
  }

  private long now() {
    return nanoClock ? System.nanoTime() : System.currentTimeMillis();
  }

  /** One operation: a producer thread appends responses, RPC senders stream them out. */
  final class Execution {
    final String userId;
    final String sessionId;
    final String serverSideSessionId;
    final String operationId;
    final Set<String> tags;
    final boolean reattachable;
    final long creationTimeMs = System.currentTimeMillis();
    final int total;
    final ByteString payload;
    final long delayMs;
    final int detachAfter;
    /** standin.stream.bytes: stream this many payload bytes in standin.size chunks (1 MiB by
     * default), produced no further than STREAM_WINDOW responses ahead of the sender and
     * dropped once sent, so any length streams in bounded memory at the reader's pace. */
    final long streamBytes;
    int sentUpTo;
    final List<String> ids = new ArrayList<>();
    final List<byte[]> responses = new ArrayList<>();
    int released;
    boolean finished;
    ConnectError failure;
    String status = "Started";
    Long lastAttachedRpcTimeMs;
    Long closedTimeMs;
    int attachGen;
    Thread producer;

    Execution(ConnectSessions.Session s, String operationId, List<String> tags, boolean reattachable) {
      this.userId = s.userId;
      this.sessionId = s.sessionId;
      this.serverSideSessionId = s.serverSideSessionId;
      this.operationId = operationId;
      this.tags = new LinkedHashSet<>(tags);
      this.reattachable = reattachable;
      this.streamBytes = tagValue(tags, "standin.stream.bytes", 0);
      int size = (int) tagValue(tags, "standin.size", streamBytes > 0 ? 1 << 20 : 0);
      if (streamBytes > 0 && size <= 0) {
        throw new ConnectError(Status.INVALID_ARGUMENT, "standin.size must be > 0 with standin.stream.bytes");
      }
      this.total = streamBytes > 0 ? (int) ((streamBytes + size - 1) / size)
          : (int) tagValue(tags, "standin.responses", 1);
      this.payload = ByteString.copyFrom(new byte[size]);
      this.delayMs = tagValue(tags, "standin.delay.ms", 0);
      this.detachAfter = (int) tagValue(tags, "standin.detach.after", 0);
    }

    List<String> key() {
      return Arrays.asList(userId, sessionId, operationId);
    }

    String jobTag() {
      return "SparkConnect_OperationTag_User_" + userId + "_Session_" + sessionId
          + "_Operation_" + operationId;
    }

    private void emit(java.util.function.Consumer<Proto.Writer> body, boolean last) {
      String responseId = UUID.randomUUID().toString();
      Proto.Writer w = new Proto.Writer().str(1, sessionId);
      if (v4) {
        w.str(15, serverSideSessionId);
      }
      w.str(12, operationId).str(13, responseId);
      body.accept(w);
      byte[] r = w.toByteArray();
      synchronized (this) {
        if (failure != null) {
          return;
        }
        ids.add(responseId);
        responses.add(r);
        if (last) {
          finished = true;
          status = "Finished";
        }
        notifyAll();
      }
    }

    void produce() {
      try {
        for (int i = 0; i < total; i++) {
          if (delayMs > 0) {
            Thread.sleep(delayMs);
          }
          ByteString data = payload;
          if (streamBytes > 0) {
            synchronized (this) {
              while (ids.size() - sentUpTo >= STREAM_WINDOW && failure == null) {
                wait(50);
              }
            }
            long left = streamBytes - (long) i * payload.size();
            if (left < payload.size()) {
              data = payload.substring(0, (int) left);
            }
          }
          ByteString d = data;
          emit(w -> w.msg(2, new Proto.Writer().num(1, 1).bytes(2, d)), false);
        }
        emit(w -> w.msg(14, new Proto.Writer()), true);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }

    /** Index of the first response after lastResponseId (null: from the start). */
    int cursorAfter(String lastResponseId) {
      int start;
      if (lastResponseId == null) {
        start = 0;
      } else {
        int i = ids.indexOf(lastResponseId);
        if (i < 0) {
          throw ConnectError.spark("INVALID_CURSOR.POSITION_NOT_FOUND",
              "The cursor position id " + lastResponseId + " is not found.", "HY109");
        }
        start = i + 1;
      }
      if (start < released) {
        throw ConnectError.spark("INVALID_CURSOR.POSITION_NOT_AVAILABLE", "The cursor position id "
            + lastResponseId + " is no longer available at index " + start + ".", "HY109");
      }
      return start;
    }

    ExecuteInfo info() {
      return new ExecuteInfo(userId, sessionId, operationId, jobTag(), tags, reattachable,
          status, creationTimeMs, lastAttachedRpcTimeMs, closedTimeMs);
    }
  }

  private static long tagValue(List<String> tags, String name, long dflt) {
    for (String t : tags) {
      if (t.startsWith(name + "=")) {
        try {
          return Long.parseLong(t.substring(name.length() + 1).trim());
        } catch (NumberFormatException e) {
          throw new ConnectError(Status.INVALID_ARGUMENT, "bad stand-in tag " + t);
        }
      }
    }
    return dflt;
  }

  // ---- RPCs ----

  /** ExecutePlan: registers the operation, starts producing and attaches the caller. */
  void executePlan(Proto req, ConnectSessions.Session s, ServerCallStreamObserver<byte[]> obs) {
    String opId = req.optStr(6);
    if (opId == null) {
      opId = UUID.randomUUID().toString();
    } else {
      try {
        UUID.fromString(opId);
      } catch (IllegalArgumentException e) {
        throw ConnectError.invalidHandle("FORMAT", opId,
            "Handle must be an UUID string of the format '00112233-4455-6677-8899-aabbccddeeff'");
      }
    }
    boolean reattachable = false;
    for (Proto opt : req.msgs(5)) {
      if (opt.has(1) && opt.msg(1).bool(1)) {
        reattachable = true;
      }
    }
    Execution e = new Execution(s, opId, req.strs(7), reattachable);
    synchronized (this) {
      if (executions.containsKey(e.key())) {
        throw ConnectError.invalidHandle("OPERATION_ALREADY_EXISTS", opId, "Operation already exists.");
      }
      executions.put(e.key(), e);
      LOG.info("ExecuteHolder ExecuteKey(" + e.userId + "," + e.sessionId + "," + opId
          + ") is created.");
    }
    Thread producer = new Thread(e::produce, "standin-execution-" + opId);
    producer.setDaemon(true);
    e.producer = producer;
    producer.start();
    attach(e, obs, null);
  }

  /** ReattachExecute: resumes the stream after last_response_id (field 5). */
  void reattach(Proto req, ConnectSessions.Session s, ServerCallStreamObserver<byte[]> obs) {
    String opId = req.str(3);
    Execution e;
    synchronized (this) {
      e = executions.get(Arrays.asList(s.userId, s.sessionId, opId));
    }
    if (e == null) {
      throw ConnectError.invalidHandle("OPERATION_NOT_FOUND", opId, "Operation not found.");
    }
    if (!e.reattachable) {
      throw ConnectError.invalidHandle("OPERATION_NOT_REATTACHABLE", opId,
          "Operation is not reattachable.");
    }
    attach(e, obs, req.optStr(5));
  }

  private void attach(Execution e, ServerCallStreamObserver<byte[]> obs, String lastResponseId) {
    int gen;
    int start;
    synchronized (e) {
      start = e.cursorAfter(lastResponseId);
      gen = ++e.attachGen;
      e.lastAttachedRpcTimeMs = null;
      e.notifyAll();
    }
    AtomicBoolean cancelled = new AtomicBoolean();
    obs.setOnCancelHandler(() -> {
      cancelled.set(true);
      synchronized (e) {
        e.notifyAll();
      }
    });
    obs.setOnReadyHandler(() -> {
      synchronized (e) {
        e.notifyAll();
      }
    });
    Thread t = new Thread(() -> send(e, obs, gen, start, cancelled),
        "standin-response-sender-" + e.operationId);
    t.setDaemon(true);
    t.start();
  }

  private void send(Execution e, ServerCallStreamObserver<byte[]> obs, int gen, int start,
      AtomicBoolean cancelled) {
    int idx = start;
    int sent = 0;
    try {
      while (true) {
        byte[] next = null;
        synchronized (e) {
          while (true) {
            if (cancelled.get()) {
              rpcGone(e, gen);
              return;
            }
            if (e.attachGen != gen) {
              obs.onCompleted();
              return;
            }
            if (e.failure != null) {
              obs.onError(e.failure.toStatus());
              return;
            }
            if (idx < e.ids.size()) {
              if (idx < e.released || e.responses.get(idx) == null) {
                idx++;
                continue;
              }
              if (obs.isReady()) {
                next = e.responses.get(idx);
                break;
              }
            } else if (e.finished) {
              break;
            }
            e.wait(20);
          }
        }
        if (next == null) {
          streamDone(e, gen);
          obs.onCompleted();
          return;
        }
        obs.onNext(next);
        idx++;
        sent++;
        if (e.streamBytes > 0) {
          synchronized (e) {
            e.responses.set(idx - 1, null);
            e.sentUpTo = idx;
            e.notifyAll();
          }
        }
        if (e.reattachable && e.detachAfter > 0 && sent >= e.detachAfter) {
          synchronized (e) {
            if (e.finished && idx >= e.ids.size()) {
              continue;
            }
            if (e.attachGen == gen) {
              e.lastAttachedRpcTimeMs = System.currentTimeMillis();
            }
          }
          obs.onCompleted();
          return;
        }
      }
    } catch (InterruptedException ie) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException ex) {
      LOG.debug("response sender for " + e.operationId + " ended: " + ex);
      rpcGone(e, gen);
    }
  }

  /** The RPC stream ended normally (everything sent, including ResultComplete). */
  private void streamDone(Execution e, int gen) {
    if (!e.reattachable) {
      remove(e, "Closed");
    } else {
      synchronized (e) {
        if (e.attachGen == gen) {
          e.lastAttachedRpcTimeMs = System.currentTimeMillis();
        }
      }
    }
  }

  /** The client went away: non-reattachable operations die, others wait detached. */
  private void rpcGone(Execution e, int gen) {
    if (!e.reattachable) {
      fail(e, ConnectError.spark("OPERATION_CANCELED", "Operation has been canceled.", "HY008"));
      remove(e, "Canceled");
    } else {
      synchronized (e) {
        if (e.attachGen == gen) {
          e.lastAttachedRpcTimeMs = System.currentTimeMillis();
        }
      }
    }
  }

  private static boolean fail(Execution e, ConnectError why) {
    synchronized (e) {
      if (e.failure != null) {
        return false;
      }
      boolean wasRunning = !e.finished;
      e.failure = why;
      if (wasRunning) {
        e.status = "Canceled";
      }
      e.notifyAll();
      if (e.producer != null) {
        e.producer.interrupt();
      }
      return wasRunning;
    }
  }

  private void remove(Execution e, String finalStatus) {
    synchronized (e) {
      if (e.closedTimeMs == null) {
        e.closedTimeMs = System.currentTimeMillis();
      }
      if (!"Canceled".equals(e.status)) {
        e.status = finalStatus;
      }
    }
    synchronized (this) {
      if (executions.remove(e.key()) != null) {
        LOG.info("ExecuteHolder ExecuteKey(" + e.userId + "," + e.sessionId + ","
            + e.operationId + ") is removed.");
      }
      if (executions.isEmpty()) {
        lastExecutionTime = now();
      }
    }
  }

  /** ReleaseExecute: release_all (5) drops the operation, release_until (6) its buffer head. */
  byte[] release(Proto req, ConnectSessions.Session s) {
    String opId = req.str(3);
    Execution e;
    synchronized (this) {
      e = executions.get(Arrays.asList(s.userId, s.sessionId, opId));
    }
    Proto.Writer w = new Proto.Writer().str(1, s.sessionId);
    if (v4) {
      w.str(3, s.serverSideSessionId);
    }
    if (e == null) {
      return w.toByteArray();
    }
    if (req.has(6)) {
      String until = req.msg(6).str(1);
      synchronized (e) {
        int i = e.ids.indexOf(until);
        for (int j = e.released; j <= i; j++) {
          e.responses.set(j, null);
        }
        e.released = Math.max(e.released, i + 1);
      }
    } else {
      fail(e, new ConnectError(Status.CANCELLED, "Operation " + opId + " was released."));
      remove(e, "Closed");
    }
    return w.optStr(2, opId).toByteArray();
  }

  /** Interrupt: type 1 all, 2 by tag, 3 by operation id. Returns the interrupted ids. */
  List<String> interrupt(ConnectSessions.Session s, int type, String tagOrId) {
    List<Execution> targets = new ArrayList<>();
    synchronized (this) {
      for (Execution e : executions.values()) {
        if (!e.userId.equals(s.userId) || !e.sessionId.equals(s.sessionId)) {
          continue;
        }
        if (type == 1 || (type == 2 && e.tags.contains(tagOrId))
            || (type == 3 && e.operationId.equals(tagOrId))) {
          targets.add(e);
        }
      }
    }
    List<String> ids = new ArrayList<>();
    for (Execution e : targets) {
      if (fail(e, ConnectError.spark("OPERATION_CANCELED", "Operation has been canceled.", "HY008"))) {
        ids.add(e.operationId);
        remove(e, "Canceled");
      }
    }
    return ids;
  }

  void removeSession(ConnectSessions.Session s) {
    interrupt(s, 1, null);
    List<Execution> rest = new ArrayList<>();
    synchronized (this) {
      for (Execution e : executions.values()) {
        if (e.userId.equals(s.userId) && e.sessionId.equals(s.sessionId)) {
          rest.add(e);
        }
      }
    }
    for (Execution e : rest) {
      remove(e, "Closed");
    }
  }

  /** Left(last activity time) when nothing is active, else Right(List of ExecuteInfo). */
  synchronized scala.util.Either<Object, Object> listActiveExecutions() {
    long now = System.currentTimeMillis();
    for (Execution e : new ArrayList<>(executions.values())) {
      Long detached;
      synchronized (e) {
        detached = e.lastAttachedRpcTimeMs;
      }
      if (e.reattachable && detached != null && now - detached >= detachedTimeoutMs) {
        LOG.info("Found execution " + e.operationId + " that was abandoned and expired and "
            + "will be removed.");
        fail(e, new ConnectError(Status.CANCELLED, "abandoned"));
        remove(e, "Closed");
      }
    }
    if (executions.isEmpty()) {
      return new scala.util.Left<>(Long.valueOf(lastExecutionTime));
    }
    List<ExecuteInfo> infos = new ArrayList<>();
    for (Execution e : executions.values()) {
      synchronized (e) {
        infos.add(e.info());
      }
    }
    return new scala.util.Right<>(StandinScala.listOf(infos));
  }

  void shutdown() {
    List<Execution> all;
    synchronized (this) {
      all = new ArrayList<>(executions.values());
    }
    for (Execution e : all) {
      fail(e, new ConnectError(Status.UNAVAILABLE, "Spark Connect service is shutting down"));
      remove(e, "Closed");
    }
  }
}
