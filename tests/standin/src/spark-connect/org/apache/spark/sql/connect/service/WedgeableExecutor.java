package org.apache.spark.sql.connect.service;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.internal.StandinLog;

/**
 * The gRPC server's call executor. {@link #wedge} holds every call callback (including new
 * calls and interceptors) for a while, so the server accepts connections and HTTP/2 streams
 * but answers nothing: a hung server as seen by a probe.
 */
final class WedgeableExecutor implements java.util.concurrent.Executor {
  private static final StandinLog LOG = StandinLog.get("SparkConnectService");
  private final AtomicInteger threads = new AtomicInteger();
  private final ExecutorService pool = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "grpc-default-executor-" + threads.getAndIncrement());
    t.setDaemon(true);
    return t;
  });
  private final Object lock = new Object();
  private long wedgedUntilNanos = System.nanoTime();

  void wedge(long ms) {
    LOG.warn("standin: wedging the gRPC call executor for " + ms + " ms");
    synchronized (lock) {
      long until = System.nanoTime() + ms * 1_000_000L;
      if (until - wedgedUntilNanos > 0) {
        wedgedUntilNanos = until;
      }
    }
  }

  @Override
  public void execute(Runnable r) {
    pool.execute(() -> {
      awaitUnwedged();
      r.run();
    });
  }

  private void awaitUnwedged() {
    synchronized (lock) {
      long rem;
      while ((rem = wedgedUntilNanos - System.nanoTime()) > 0) {
        try {
          lock.wait(Math.max(1, rem / 1_000_000L));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  void shutdown() {
    pool.shutdown();
  }
}
