package scala.collection.immutable;

public final class Nil$ extends List<Object> {
  public static final Nil$ MODULE$ = new Nil$();

  private Nil$() {}

  @Override
  public Object head() {
    throw new java.util.NoSuchElementException("head of empty list");
  }

  @Override
  public List<Object> tail() {
    throw new UnsupportedOperationException("tail of empty list");
  }

  @Override
  public boolean isEmpty() {
    return true;
  }
}
