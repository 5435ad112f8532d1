package scala;

public final class Some<A> extends Option<A> {
  private final A value;

  public Some(A value) {
    this.value = value;
  }

  public A value() {
    return value;
  }

  @Override
  public A get() {
    return value;
  }

  @Override
  public boolean isEmpty() {
    return false;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Some && java.util.Objects.equals(((Some<?>) o).value, value);
  }

  @Override
  public int hashCode() {
    return java.util.Objects.hashCode(value);
  }

  @Override
  public String toString() {
    return "Some(" + value + ")";
  }
}
