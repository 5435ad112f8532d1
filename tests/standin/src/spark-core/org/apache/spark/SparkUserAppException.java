package org.apache.spark;

/** Thrown when the user application should end the process with the given exit code. */
public class SparkUserAppException extends SparkException {
  private final int exitCode;

  public SparkUserAppException(int exitCode) {
    super("User application exited with " + exitCode);
    this.exitCode = exitCode;
  }

  public int exitCode() {
    return exitCode;
  }
}
