package scala.util;

public final class Right<A, B> extends Either<A, B> {
  private final B value;

  public Right(B value) {
    this.value = value;
  }

  public B value() {
    return value;
  }

  @Override
  public boolean isLeft() {
    return false;
  }

  @Override
  public boolean isRight() {
    return true;
  }

  @Override
  public String toString() {
    return "Right(" + value + ")";
  }
}
