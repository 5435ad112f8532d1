package org.apache.spark.sql.connect.service;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

/** Requires "authorization: Bearer <token>" on every call (Spark 4.x). */
public class PreSharedKeyAuthenticationInterceptor implements ServerInterceptor {
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("Authorization", Metadata.ASCII_STRING_MARSHALLER);
  private final String expected;

  public PreSharedKeyAuthenticationInterceptor(String token) {
    this.expected = "Bearer " + token;
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    String got = headers.get(AUTHORIZATION);
    if (got == null) {
      call.close(Status.UNAUTHENTICATED.withDescription("No authentication token provided"),
          new Metadata());
      return new ServerCall.Listener<ReqT>() {};
    }
    if (!got.equals(expected)) {
      call.close(Status.UNAUTHENTICATED.withDescription("Invalid authentication token"),
          new Metadata());
      return new ServerCall.Listener<ReqT>() {};
    }
    return next.startCall(call, headers);
  }
}
