package org.apache.spark.deploy;

import org.apache.spark.util.Utils;

/** Companion object of SparkSubmit; SparkSubmit.main forwards here. */
public final class SparkSubmit$ {
  public static final SparkSubmit$ MODULE$ = new SparkSubmit$();

  private SparkSubmit$() {}

  public void main(String[] args) {
    try {
      new SparkSubmit().doSubmit(args);
    } catch (Exception e) {
      throw Utils.rethrow(e);
    }
  }
}
