package org.apache.spark.util;

import java.util.List;
import scala.collection.immutable.$colon$colon;
import scala.collection.immutable.Nil$;

/** Builds Scala values from Java ones (stand-in helper; Spark itself is written in Scala). */
public final class StandinScala {
  private StandinScala() {}

  /** An immutable Scala List with the elements of the Java list, in order. */
  @SuppressWarnings({"unchecked", "rawtypes"})
  public static <A> scala.collection.immutable.List<A> listOf(List<A> items) {
    scala.collection.immutable.List list = Nil$.MODULE$;
    for (int i = items.size() - 1; i >= 0; i--) {
      list = new $colon$colon(items.get(i), list);
    }
    return list;
  }
}
