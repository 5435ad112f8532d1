package org.apache.spark.sql.connect.service;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.internal.StandinLog;
import org.apache.spark.util.StandinScala;

/**
 * Sessions keyed by (user_id, session_id): each has a server-side session id, a conf map and
 * the artifacts received through AddArtifacts. Released sessions leave a tombstone (4.x).
 */
final class ConnectSessions {
  private static final StandinLog LOG = StandinLog.get("SparkConnectSessionManager");

  /** Bytes and CRC32 of one artifact, as counted on arrival. */
  static final class Artifact {
    long bytes;
    final java.util.zip.CRC32 crc = new java.util.zip.CRC32();
    boolean crcOk = true;
  }

  static final class Session {
    final String userId;
    final String sessionId;
    final String serverSideSessionId = UUID.randomUUID().toString();
    final Map<String, String> conf;
    final Map<String, Artifact> artifacts = new LinkedHashMap<>();
    final long startTimeMs = System.currentTimeMillis();
    /** Updated on every RPC that names the session, like SessionHolder.updateAccessTime. */
    volatile long lastAccessTimeMs = startTimeMs;

    Session(String userId, String sessionId, Map<String, String> base) {
      this.userId = userId;
      this.sessionId = sessionId;
      this.conf = Collections.synchronizedMap(new LinkedHashMap<>(base));
    }
  }

  private final Map<List<String>, Session> sessions = new ConcurrentHashMap<>();
  private final Set<List<String>> closed = ConcurrentHashMap.newKeySet();
  private final boolean v4;
  private volatile Map<String, String> baseConf = Collections.emptyMap();

  ConnectSessions(boolean v4) {
    this.v4 = v4;
  }

  void initializeBaseSession(Map<String, String> base) {
    baseConf = new LinkedHashMap<>(base);
  }

  private static List<String> key(String userId, String sessionId) {
    return Arrays.asList(userId, sessionId);
  }

  private static void validate(String sessionId) {
    try {
      UUID.fromString(sessionId);
    } catch (IllegalArgumentException e) {
      throw ConnectError.invalidHandle("FORMAT", sessionId,
          "Handle must be an UUID string of the format '00112233-4455-6677-8899-aabbccddeeff'");
    }
  }

  private void checkObserved(Session s, String observed) {
    if (v4 && observed != null && !observed.equals(s.serverSideSessionId)) {
      throw ConnectError.spark("INVALID_HANDLE.SESSION_CHANGED",
          "The handle " + s.sessionId + " is invalid. The existing Spark server driver instance "
              + "has restarted. Please reconnect.", "HY000");
    }
  }

  /** The session, created on first use. */
  Session getOrCreate(String userId, String sessionId, String observedServerSideId) {
    validate(sessionId);
    List<String> k = key(userId, sessionId);
    if (v4 && closed.contains(k)) {
      throw ConnectError.invalidHandle("SESSION_CLOSED", sessionId, "Session was closed.");
    }
    Session s = sessions.computeIfAbsent(k, kk -> {
      LOG.info("New session created: userId=" + userId + ", sessionId=" + sessionId);
      return new Session(userId, sessionId, baseConf);
    });
    checkObserved(s, observedServerSideId);
    s.lastAccessTimeMs = System.currentTimeMillis();
    return s;
  }

  /** An existing session, or INVALID_HANDLE.SESSION_NOT_FOUND. */
  Session get(String userId, String sessionId, String observedServerSideId) {
    validate(sessionId);
    List<String> k = key(userId, sessionId);
    if (v4 && closed.contains(k)) {
      throw ConnectError.invalidHandle("SESSION_CLOSED", sessionId, "Session was closed.");
    }
    Session s = sessions.get(k);
    if (s == null) {
      throw ConnectError.invalidHandle("SESSION_NOT_FOUND", sessionId, "Session not found.");
    }
    checkObserved(s, observedServerSideId);
    s.lastAccessTimeMs = System.currentTimeMillis();
    return s;
  }

  /** Removes the session (tombstoned); returns it, or null if it did not exist. */
  Session release(String userId, String sessionId) {
    validate(sessionId);
    List<String> k = key(userId, sessionId);
    Session s = sessions.remove(k);
    closed.add(k);
    if (s != null) {
      LOG.info("Session closed: userId=" + userId + ", sessionId=" + sessionId);
    }
    return s;
  }

  /** Open sessions as Spark 4's SparkConnectSessionManager.listActiveSessions lists them. */
  scala.collection.immutable.Seq<SessionHolderInfo> listActiveSessions() {
    java.util.List<SessionHolderInfo> out = new java.util.ArrayList<>();
    for (Session s : sessions.values()) {
      out.add(new SessionHolderInfo(s.userId, s.sessionId, s.serverSideSessionId, s.startTimeMs,
          s.lastAccessTimeMs));
    }
    return StandinScala.listOf(out);
  }

  long size() {
    return sessions.size();
  }

  void shutdown() {
    sessions.clear();
  }
}
