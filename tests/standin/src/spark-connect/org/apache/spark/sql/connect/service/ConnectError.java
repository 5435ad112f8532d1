package org.apache.spark.sql.connect.service;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/** An RPC failure with its gRPC status; Spark errors carry "[ERROR_CLASS] message". */
final class ConnectError extends RuntimeException {
  private final Status status;

  ConnectError(Status status, String description) {
    super(description, null, false, false);
    this.status = status.withDescription(description);
  }

  /** A SparkThrowable-style error: INTERNAL with "[CLASS] message SQLSTATE: state". */
  static ConnectError spark(String errorClass, String message, String sqlState) {
    return new ConnectError(Status.INTERNAL,
        "[" + errorClass + "] " + message + (sqlState == null ? "" : " SQLSTATE: " + sqlState));
  }

  static ConnectError invalidHandle(String sub, String handle, String detail) {
    return spark("INVALID_HANDLE." + sub, "The handle " + handle + " is invalid. " + detail, "HY000");
  }

  StatusRuntimeException toStatus() {
    return status.asRuntimeException();
  }

  /** Any throwable as a gRPC status exception. */
  static StatusRuntimeException of(Throwable t) {
    if (t instanceof ConnectError) {
      return ((ConnectError) t).toStatus();
    }
    if (t instanceof StatusRuntimeException) {
      return (StatusRuntimeException) t;
    }
    return Status.INTERNAL.withDescription(t.getClass().getName() + ": " + t.getMessage())
        .withCause(t).asRuntimeException();
  }
}
