package org.apache.spark.sql.connect.service;

/**
 * One open session as Spark 4's session manager reports it (a Scala case class there; the
 * stand-in keeps the accessors a JNI caller uses).
 */
public final class SessionHolderInfo {
  private final String userId;
  private final String sessionId;
  private final String serverSessionId;
  private final long startTimeMs;
  private final long lastAccessTimeMs;

  SessionHolderInfo(String userId, String sessionId, String serverSessionId, long startTimeMs,
      long lastAccessTimeMs) {
    this.userId = userId;
    this.sessionId = sessionId;
    this.serverSessionId = serverSessionId;
    this.startTimeMs = startTimeMs;
    this.lastAccessTimeMs = lastAccessTimeMs;
  }

  public String userId() {
    return userId;
  }

  public String sessionId() {
    return sessionId;
  }

  public String serverSessionId() {
    return serverSessionId;
  }

  public long startTimeMs() {
    return startTimeMs;
  }

  public long lastAccessTimeMs() {
    return lastAccessTimeMs;
  }
}
