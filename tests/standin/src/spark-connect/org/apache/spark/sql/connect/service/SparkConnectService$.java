package org.apache.spark.sql.connect.service;

import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.TimeUnit;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.internal.StandinLog;
import org.apache.spark.package$;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.StandinKnobs;
import org.apache.spark.util.Utils;
import scala.Option;

/**
 * The Scala object SparkConnectService: starts and stops the gRPC server and holds the
 * session and execution managers. Method shapes match the bytecode of the real object
 * (localPort()I, start(SparkContext)V, stop(Option;Option)V, listActiveExecutions()Either...).
 *
 * <p>Version differences follow the home's spark-version-info.properties: 4.x honours
 * spark.connect.grpc.binding.address, binds through Utils.startServiceOnPort (port range
 * check, maxRetries, "Successfully started service" line), supports token authentication,
 * and guards start/stop with started/stopped flags; 3.5 binds all interfaces directly.
 */
public final class SparkConnectService$ {
  public static final SparkConnectService$ MODULE$ = new SparkConnectService$();

  private static final StandinLog LOG = StandinLog.get("SparkConnectService");
  private static final String SERVICE_NAME =
      "org.apache.spark.sql.connect.service.SparkConnectService";

  private final boolean v4 = package$.MODULE$.majorVersion() >= 4;
  private volatile Server server;
  private volatile InetSocketAddress bindingAddress;
  private volatile boolean started;
  private volatile boolean stopped;
  private volatile ConnectSessions sessions;
  private volatile ConnectExecutions executions;
  private volatile WedgeableExecutor executor;

  private SparkConnectService$() {}

  /**
   * The bound port, as Spark's `server.getPort`: Scala's assert when no server was created yet,
   * gRPC's IllegalStateException("Not started") while it is created but not started (or its
   * bind failed), and after it terminated.
   */
  public int localPort() {
    Server s = server;
    if (s == null) {
      throw new AssertionError("assertion failed");
    }
    return s.getPort();
  }

  public String hostAddress() {
    return Utils.localCanonicalHostName();
  }

  /** Address actually bound (4.x); null before the first start. */
  public InetSocketAddress bindingAddress() {
    return bindingAddress;
  }

  public boolean started() {
    return started;
  }

  /** The gRPC server, as Spark's `server` var (null before the first start). */
  public Server server() {
    return server;
  }

  public boolean stopped() {
    return stopped;
  }

  /** Left(java.lang.Long last activity ms) when idle, else Right(List of ExecuteInfo). */
  public scala.util.Either<Object, Object> listActiveExecutions() {
    ConnectExecutions ex = executions;
    if (ex == null) {
      ex = managers(null).executions;
    }
    return ex.listActiveExecutions();
  }

  /**
   * Spark 4.x: the session manager (open sessions and their last access). Spark 3.5 has no
   * such method; the stand-in's 3.5 home answers as a missing method would.
   */
  public SparkConnectSessionManager sessionManager() {
    if (!v4) {
      throw new NoSuchMethodError("sessionManager");
    }
    return new SparkConnectSessionManager(managers(null).sessions);
  }

  /** Spark 3.5: the private session cache (a JNI caller may read private members). */
  @SuppressWarnings("unused")
  private org.sparkproject.connect.guava.cache.Cache<Object, Object> userSessionMapping() {
    final ConnectSessions s = managers(null).sessions;
    return () -> s.size();
  }

  private synchronized SparkConnectService$ managers(SparkConf given) {
    if (executions == null) {
      SparkConf conf = given != null ? given : new SparkConf();
      long detached = Utils.timeStringAsMs(
          conf.get("spark.connect.execute.manager.detachedTimeout", "5m"));
      sessions = new ConnectSessions(v4);
      String clock = StandinKnobs.get(conf, StandinKnobs.LIST_CLOCK);
      executions = new ConnectExecutions(v4, detached, "nanos".equalsIgnoreCase(clock));
    }
    return this;
  }

  public synchronized void start(SparkContext sc) {
    if (v4 && started) {
      LOG.warn("The Spark Connect service has already started.");
      return;
    }
    SparkConf conf = sc.conf();
    managers(conf);
    StandinKnobs.beforeBind(conf);
    sessions.initializeBaseSession(
        SparkSession.builder().sparkContext(sc).getOrCreate().newSession().sessionConf());
    try {
      startGrpcService(conf);
    } catch (Exception e) {
      throw Utils.rethrow(e);
    }
    started = true;
    stopped = false;
    StandinKnobs.afterBind(conf, e -> {
      LOG.error("standin: serving failure, terminating the gRPC server", e);
      Server s = server;
      if (s != null) {
        s.shutdownNow();
      }
    });
  }

  private void startGrpcService(SparkConf conf) throws Exception {
    String standinAddress = StandinKnobs.get(conf, StandinKnobs.BIND_ADDRESS);
    String bindAddress = v4
        ? conf.get("spark.connect.grpc.binding.address", standinAddress) : standinAddress;
    int startPort = conf.getInt("spark.connect.grpc.binding.port", 15002);
    int maxInbound = (int) Utils.byteStringAsBytes(
        conf.get("spark.connect.grpc.maxInboundMessageSize", "134217728"));
    String token = v4 ? conf.get("spark.connect.authenticate.token",
        System.getenv("SPARK_CONNECT_AUTHENTICATE_TOKEN")) : null;
    WedgeableExecutor exec = new WedgeableExecutor();
    ConnectRpcs rpcs = new ConnectRpcs(v4, package$.MODULE$.SPARK_VERSION(),
        sessions, executions, exec);

    Utils.PortService<Server> svc = new Utils.PortService<Server>() {
      @Override
      public Server start(int port) throws Exception {
        NettyServerBuilder sb;
        if (bindAddress != null) {
          if (v4) {
            LOG.info("start GRPC service at: " + bindAddress);
          }
          sb = NettyServerBuilder.forAddress(new InetSocketAddress(bindAddress, port));
        } else {
          sb = NettyServerBuilder.forPort(port);
        }
        sb.maxInboundMessageSize(maxInbound).executor(exec).addService(rpcs.bindService());
        if (token != null) {
          sb.intercept(new PreSharedKeyAuthenticationInterceptor(token));
        }
        for (ServerInterceptor i : configuredInterceptors(conf)) {
          sb.intercept(i);
        }
        // As Spark: `server = sb.build; server.start()`. Until start() returns, localPort
        // throws gRPC's IllegalStateException("Not started"); so it does after a failed bind.
        Server s = sb.build();
        server = s;
        StandinKnobs.bindWindow(conf);
        s.start();
        for (SocketAddress a : s.getListenSockets()) {
          if (a instanceof InetSocketAddress) {
            bindingAddress = (InetSocketAddress) a;
            break;
          }
        }
        return s;
      }

      @Override
      public int boundPort(Server s) {
        return s.getPort();
      }
    };
    if (v4) {
      int maxRetries = conf.getInt("spark.connect.grpc.port.maxRetries", 0);
      Utils.startServiceOnPort(startPort, svc, maxRetries, SERVICE_NAME);
    } else {
      svc.start(startPort);
    }
    executor = exec;
  }

  private static java.util.List<ServerInterceptor> configuredInterceptors(SparkConf conf) {
    java.util.List<ServerInterceptor> out = new java.util.ArrayList<>();
    String names = conf.get("spark.connect.grpc.interceptor.classes", "");
    ClassLoader cl = Thread.currentThread().getContextClassLoader();
    for (String raw : names.split(",")) {
      String name = raw.trim();
      if (name.isEmpty()) {
        continue;
      }
      try {
        Class<?> c = Class.forName(name, true, cl);
        if (!ServerInterceptor.class.isAssignableFrom(c)) {
          throw new IllegalArgumentException(
              "Class " + name + " must implement io.grpc.ServerInterceptor");
        }
        out.add((ServerInterceptor) c.getDeclaredConstructor().newInstance());
      } catch (ReflectiveOperationException e) {
        throw new IllegalArgumentException("Cannot instantiate interceptor " + name, e);
      }
    }
    return out;
  }

  public synchronized void stop(Option<Object> timeout, Option<TimeUnit> unit) {
    if (v4) {
      if (stopped) {
        LOG.warn("The Spark Connect service has already been stopped.");
        return;
      }
      if (!started) {
        throw new IllegalStateException("[SPARK_CONNECT_ILLEGAL_STATE.SESSION_MANAGEMENT_SERVICE_"
            + "NOT_STARTED] Illegal state: Spark Connect service has not been started.");
      }
    }
    Server s = server;
    boolean terminated = false;
    if (s != null) {
      if (timeout.isDefined() && unit.isDefined()) {
        s.shutdown();
        try {
          terminated = s.awaitTermination(((Number) timeout.get()).longValue(), unit.get());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      } else {
        s.shutdownNow();
        terminated = s.isTerminated();
      }
    }
    if (executions != null) {
      executions.shutdown();
    }
    if (sessions != null) {
      sessions.shutdown();
    }
    if (executor != null && terminated) {
      executor.shutdown();
    }
    started = false;
    stopped = true;
  }

  public Option<Object> stop$default$1() {
    return Option.empty();
  }

  public Option<TimeUnit> stop$default$2() {
    return Option.empty();
  }

  /** Blocks until the gRPC server terminates (SparkConnectServer's main thread). */
  void awaitTermination() throws InterruptedException {
    Server s = server;
    if (s != null) {
      s.awaitTermination();
    }
  }

  /** Addresses the server listens on (for the 3.5-style startup log line). */
  java.util.List<? extends SocketAddress> listenSockets() {
    Server s = server;
    return s == null ? java.util.Collections.emptyList() : s.getListenSockets();
  }
}
