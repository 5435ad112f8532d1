package scala;

public final class None$ extends Option<Object> {
  public static final None$ MODULE$ = new None$();

  private None$() {}

  @Override
  public Object get() {
    throw new java.util.NoSuchElementException("None.get");
  }

  @Override
  public boolean isEmpty() {
    return true;
  }

  @Override
  public String toString() {
    return "None";
  }
}
