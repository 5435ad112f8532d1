package scala.collection.immutable;

public interface Seq<A> extends scala.collection.Seq<A> {}
