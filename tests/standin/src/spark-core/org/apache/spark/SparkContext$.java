package org.apache.spark;

import scala.Option;

/** Companion object of SparkContext (what Scala compiles `object SparkContext` into). */
public final class SparkContext$ {
  public static final SparkContext$ MODULE$ = new SparkContext$();

  private SparkContext$() {}

  public SparkContext getOrCreate() {
    return SparkContext.getOrCreateImpl(new SparkConf());
  }

  public SparkContext getOrCreate(SparkConf config) {
    return SparkContext.getOrCreateImpl(config);
  }

  public Option<SparkContext> getActive() {
    return Option.apply(SparkContext.activeContext());
  }
}
