package org.apache.spark.util;

import java.io.File;
import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.URI;
import java.util.Locale;
import org.apache.spark.internal.StandinLog;

/** The few helpers of Spark's Utils object that the stand-in needs. */
public final class Utils {
  private static final StandinLog LOG = StandinLog.get("Utils");
  private static volatile String currentUser;

  private Utils() {}

  /** A service that can be started on a port; used by {@link #startServiceOnPort}. */
  public interface PortService<T> {
    T start(int port) throws Exception;

    int boundPort(T service);
  }

  /**
   * Starts a service on startPort, trying the next ports up to maxRetries times on bind
   * collisions (port 0 is retried as 0). Logs "Successfully started service ..." like Spark.
   */
  public static <T> T startServiceOnPort(
      int startPort, PortService<T> svc, int maxRetries, String serviceName) throws Exception {
    if (!(startPort == 0 || (1024 <= startPort && startPort < 65536))) {
      throw new IllegalArgumentException("requirement failed: startPort should be between 1024 "
          + "and 65535 (inclusive), or 0 for a random free port.");
    }
    String serviceString = serviceName.isEmpty() ? "" : " '" + serviceName + "'";
    for (int offset = 0; offset <= maxRetries; offset++) {
      int tryPort = startPort == 0 ? 0 : (startPort + offset - 1024) % (65536 - 1024) + 1024;
      try {
        T service = svc.start(tryPort);
        LOG.info("Successfully started service" + serviceString + " on port "
            + svc.boundPort(service) + ".");
        return service;
      } catch (Exception e) {
        if (!isBindCollision(e)) {
          throw e;
        }
        if (offset >= maxRetries) {
          String msg = startPort == 0
              ? e.getMessage() + ": Service" + serviceString + " failed after " + maxRetries
                  + " retries (on a random free port)! Consider explicitly setting the "
                  + "appropriate binding address for the service" + serviceString
                  + " (for example spark.driver.bindAddress for SparkDriver) to the correct "
                  + "binding address."
              : e.getMessage() + ": Service" + serviceString + " failed after " + maxRetries
                  + " retries (starting from " + startPort + ")! Consider explicitly setting "
                  + "the appropriate port for the service" + serviceString + " (for example "
                  + "spark.ui.port for SparkUI) to an available port or increasing "
                  + "spark.port.maxRetries.";
          BindException be = new BindException(msg);
          be.setStackTrace(e.getStackTrace());
          throw be;
        }
        if (startPort == 0) {
          LOG.warn("Service" + serviceString + " could not bind on a random free port. "
              + "You may check whether configuring an appropriate binding address.");
        } else {
          LOG.warn("Service" + serviceString + " could not bind on port " + tryPort
              + ". Attempting port " + (tryPort + 1) + ".");
        }
      }
    }
    throw new IllegalStateException("Failed to start service" + serviceString);
  }

  /** Whether the exception (or a cause) means "address already in use". */
  public static boolean isBindCollision(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof BindException && t.getMessage() != null) {
        return true;
      }
      if (t instanceof IOException && t.getMessage() != null
          && t.getMessage().startsWith("Failed to bind to address")) {
        return true;
      }
      if (t.getCause() == t) {
        break;
      }
    }
    return false;
  }

  /** Throws any throwable unchecked, as Scala code does; declared to return for 'throw'. */
  public static RuntimeException rethrow(Throwable t) {
    Utils.<RuntimeException>sneaky(t);
    return null;
  }

  @SuppressWarnings("unchecked")
  private static <T extends Throwable> void sneaky(Throwable t) throws T {
    throw (T) t;
  }

  /** SPARK_LOCAL_HOSTNAME, else the canonical name of the local address. */
  public static String localCanonicalHostName() {
    String custom = System.getenv("SPARK_LOCAL_HOSTNAME");
    if (custom != null && !custom.isEmpty()) {
      return custom;
    }
    return localAddress().getCanonicalHostName();
  }

  /** SPARK_LOCAL_HOSTNAME, else the local IP address as text. */
  public static String localHostName() {
    String custom = System.getenv("SPARK_LOCAL_HOSTNAME");
    if (custom != null && !custom.isEmpty()) {
      return custom;
    }
    return localAddress().getHostAddress();
  }

  private static InetAddress localAddress() {
    try {
      String ip = System.getenv("SPARK_LOCAL_IP");
      if (ip != null && !ip.isEmpty()) {
        return InetAddress.getByName(ip);
      }
      return InetAddress.getLocalHost();
    } catch (IOException e) {
      return InetAddress.getLoopbackAddress();
    }
  }

  public static void setCurrentUserName(String user) {
    currentUser = user;
  }

  /** SPARK_USER, else a --proxy-user, else the OS user. */
  public static String getCurrentUserName() {
    String env = System.getenv("SPARK_USER");
    if (env != null && !env.isEmpty()) {
      return env;
    }
    return currentUser != null ? currentUser : System.getProperty("user.name");
  }

  /** Parses sizes like 128m, 1g, 512k, 100b or a plain byte count. */
  public static long byteStringAsBytes(String s) {
    String v = s.trim().toLowerCase(Locale.ROOT);
    String[] units = {"pb", "tb", "gb", "mb", "kb", "p", "t", "g", "m", "k", "b"};
    long[] mult = {1L << 50, 1L << 40, 1L << 30, 1L << 20, 1L << 10,
        1L << 50, 1L << 40, 1L << 30, 1L << 20, 1L << 10, 1};
    for (int i = 0; i < units.length; i++) {
      if (v.endsWith(units[i])) {
        return Long.parseLong(v.substring(0, v.length() - units[i].length()).trim()) * mult[i];
      }
    }
    return Long.parseLong(v);
  }

  /** Parses durations like 5m, 30s, 100ms, 1h or plain milliseconds. */
  public static long timeStringAsMs(String s) {
    String v = s.trim().toLowerCase(Locale.ROOT);
    String[] units = {"ms", "s", "min", "m", "h", "d"};
    long[] mult = {1, 1000, 60_000, 60_000, 3_600_000, 86_400_000};
    for (int i = 0; i < units.length; i++) {
      if (v.endsWith(units[i])) {
        return Long.parseLong(v.substring(0, v.length() - units[i].length()).trim()) * mult[i];
      }
    }
    return Long.parseLong(v);
  }

  /** Comma-separated paths or URIs, each resolved with {@link #resolveURI}. */
  public static String resolveURIs(String paths) {
    if (paths == null || paths.trim().isEmpty()) {
      return paths;
    }
    StringBuilder sb = new StringBuilder();
    for (String p : paths.split(",")) {
      if (p.trim().isEmpty()) {
        continue;
      }
      if (sb.length() > 0) {
        sb.append(',');
      }
      sb.append(resolveURI(p.trim()));
    }
    return sb.toString();
  }

  /** The value, or a redaction marker when the key looks like it holds a secret. */
  public static String redact(String key, String value) {
    String k = key.toLowerCase(Locale.ROOT);
    if (k.contains("secret") || k.contains("password") || k.contains("token")
        || k.matches(".*access[.]?key.*")) {
      return "*********(redacted)";
    }
    return value;
  }

  /** A path or URI as a URI; plain paths become absolute file: URIs. */
  public static URI resolveURI(String path) {
    try {
      URI uri = new URI(path);
      if (uri.getScheme() != null) {
        return uri;
      }
      if (uri.getFragment() != null) {
        URI abs = new File(uri.getPath()).getAbsoluteFile().toURI();
        return new URI(abs.getScheme(), abs.getPath(), uri.getFragment());
      }
    } catch (java.net.URISyntaxException e) {
      // not a URI: treat as a path
    }
    return new File(path).getAbsoluteFile().toURI();
  }
}
