package org.sparkproject.connect.guava.cache;

/**
 * Spark 3.5 keeps its Connect sessions in a (shaded) Guava cache, a private field of
 * SparkConnectService$; the stand-in has only the size() a JNI caller reads.
 */
public interface Cache<K, V> {
  long size();
}
