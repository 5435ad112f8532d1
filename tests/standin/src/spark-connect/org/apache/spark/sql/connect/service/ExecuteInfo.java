package org.apache.spark.sql.connect.service;

import scala.Option;

/** Snapshot of one execution, as listed by SparkConnectService.listActiveExecutions. */
public final class ExecuteInfo implements java.io.Serializable {
  private final String userId;
  private final String sessionId;
  private final String operationId;
  private final String jobTag;
  private final java.util.Set<String> sparkSessionTags;
  private final boolean reattachable;
  private final String status;
  private final long creationTimeMs;
  private final Long lastAttachedRpcTimeMs;
  private final Long closedTimeMs;

  ExecuteInfo(String userId, String sessionId, String operationId, String jobTag,
      java.util.Set<String> tags, boolean reattachable, String status, long creationTimeMs,
      Long lastAttachedRpcTimeMs, Long closedTimeMs) {
    this.userId = userId;
    this.sessionId = sessionId;
    this.operationId = operationId;
    this.jobTag = jobTag;
    this.sparkSessionTags = java.util.Collections.unmodifiableSet(tags);
    this.reattachable = reattachable;
    this.status = status;
    this.creationTimeMs = creationTimeMs;
    this.lastAttachedRpcTimeMs = lastAttachedRpcTimeMs;
    this.closedTimeMs = closedTimeMs;
  }

  public String userId() {
    return userId;
  }

  public String sessionId() {
    return sessionId;
  }

  public String operationId() {
    return operationId;
  }

  public String jobTag() {
    return jobTag;
  }

  /** The request's tags (a Scala Set in Spark; a java.util.Set here). */
  public java.util.Set<String> sparkSessionTags() {
    return sparkSessionTags;
  }

  public boolean reattachable() {
    return reattachable;
  }

  /** Status name (an enumeration in Spark): Started, Finished, Canceled, ... */
  public String status() {
    return status;
  }

  public long creationTimeMs() {
    return creationTimeMs;
  }

  public Option<Object> lastAttachedRpcTimeMs() {
    return Option.apply(lastAttachedRpcTimeMs);
  }

  public Option<Object> closedTimeMs() {
    return Option.apply(closedTimeMs);
  }

  @Override
  public String toString() {
    return "ExecuteInfo(" + userId + "," + sessionId + "," + operationId + "," + jobTag + ","
        + sparkSessionTags + "," + reattachable + "," + status + "," + creationTimeMs + ","
        + lastAttachedRpcTimeMs() + "," + closedTimeMs() + ")";
  }
}
