package scala;

public final class Tuple2<A, B> implements java.io.Serializable {
  private final A first;
  private final B second;

  public Tuple2(A first, B second) {
    this.first = first;
    this.second = second;
  }

  public A _1() {
    return first;
  }

  public B _2() {
    return second;
  }

  @Override
  public String toString() {
    return "(" + first + "," + second + ")";
  }
}
