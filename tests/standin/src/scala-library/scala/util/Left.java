package scala.util;

public final class Left<A, B> extends Either<A, B> {
  private final A value;

  public Left(A value) {
    this.value = value;
  }

  public A value() {
    return value;
  }

  @Override
  public boolean isLeft() {
    return true;
  }

  @Override
  public boolean isRight() {
    return false;
  }

  @Override
  public String toString() {
    return "Left(" + value + ")";
  }
}
