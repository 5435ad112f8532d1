package org.apache.spark.sql.connect.service;

/** Spark 4's session manager, as far as a JNI caller sees it: the open sessions. */
public final class SparkConnectSessionManager {
  private final ConnectSessions sessions;

  SparkConnectSessionManager(ConnectSessions sessions) {
    this.sessions = sessions;
  }

  public scala.collection.immutable.Seq<SessionHolderInfo> listActiveSessions() {
    return sessions.listActiveSessions();
  }
}
