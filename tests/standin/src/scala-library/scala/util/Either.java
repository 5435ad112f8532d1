package scala.util;

public abstract class Either<A, B> implements java.io.Serializable {
  Either() {}

  public abstract boolean isLeft();

  public abstract boolean isRight();
}
